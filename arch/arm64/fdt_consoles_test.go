package arm64

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/pl011"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
)

// consolesFDTConfig is a machine with --console pl011 --rng and a
// virtio-console as the board places them: the PL011 in the fixed UART
// slot, then a disk, the console and the rng in virtio-mmio slots.
func consolesFDTConfig() FDTConfig {
	c := testFDTConfig(2, GICv3)
	c.Cmdline = "console=ttyAMA0 earlycon=pl011,0x9000000"
	c.Devices = []vmm.PlacedDevice{
		{Name: "pl011", Placement: vmm.Placement{Base: FixedUARTBase, Size: pl011.Size, IRQ: 0}, Describe: pl011.DescribeConsole},
		{Name: "virtio-blk0", Placement: vmm.Placement{Base: VirtioBase, Size: VirtioStride, IRQ: 1}, Describe: virtio.Describe},
		{Name: "virtio-console", Placement: vmm.Placement{Base: VirtioBase + VirtioStride, Size: VirtioStride, IRQ: 2}, Describe: virtio.Describe},
		{Name: "virtio-rng", Placement: vmm.Placement{Base: VirtioBase + 2*VirtioStride, Size: VirtioStride, IRQ: 3}, Describe: virtio.Describe},
	}
	return c
}

func TestDeviceTreeConsolesGolden(t *testing.T) {
	blob, err := BuildFDT(consolesFDTConfig())
	if err != nil {
		t.Fatal(err)
	}
	dts := dtctest.Decode(t, blob)
	dtctest.Golden(t, "gicv3-2cpu-pl011-rng-console", dts, *update)
	// What Linux's AMBA bus and amba-pl011 look for, whatever the
	// golden says.
	for _, want := range []string{
		`stdout-path = "/pl011@9000000";`,
		`compatible = "arm,pl011\0arm,primecell";`,
		`reg = <0x00 0x9000000 0x00 0x1000>;`,
		`clock-names = "uartclk\0apb_pclk";`,
		`clocks = <0x02 0x02>;`,
		"apb-pclk {",
		`compatible = "fixed-clock";`,
		"#clock-cells = <0x00>;",
		"clock-frequency = <0x16e3600>;", // 24 MHz
		"phandle = <0x02>;",
	} {
		if !strings.Contains(dts, want) {
			t.Errorf("device tree lacks %s", want)
		}
	}
}

// The fixed UART slot is QEMU virt's PL011 address, once; the virtio-mmio
// windows never reach it.
func TestPlaceFixedUART(t *testing.T) {
	b := New(Options{})
	p, err := b.PlaceDevice(vmm.AreaFixedUART, pl011.Size)
	if err != nil || p.Base != 0x0900_0000 || p.Size != 0x1000 {
		t.Fatalf("placed at %+v, %v", p, err)
	}
	if _, err := b.PlaceDevice(vmm.AreaFixedUART, pl011.Size); err == nil {
		t.Error("the fixed slot was handed out twice")
	}
	for i := 0; ; i++ {
		v, err := b.PlaceDevice(vmm.AreaVirtio, VirtioStride)
		if err != nil {
			break
		}
		if v.Base+v.Size > FixedUARTBase {
			t.Fatalf("virtio window %d at %#x reaches the UART", i, v.Base)
		}
	}
}
