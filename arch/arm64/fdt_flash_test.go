package arm64

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/cfiflash"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
)

// A flash goes where kvmtool has it, once, up to 16 MiB, and takes no
// interrupt: the next device still gets SPI 0.
func TestPlaceFlash(t *testing.T) {
	b := New(Options{})
	p, err := b.PlaceDevice(vmm.AreaFlash, 4<<20)
	if err != nil || p.Base != 0x0200_0000 || p.Size != 4<<20 || p.IRQ != vmm.NoIRQ {
		t.Fatalf("placed at %+v, %v; want 0x2000000, 4 MiB, no interrupt", p, err)
	}
	if _, err := b.PlaceDevice(vmm.AreaFlash, 64<<10); err == nil {
		t.Error("the flash window was handed out twice")
	}
	if _, err := New(Options{}).PlaceDevice(vmm.AreaFlash, 32<<20); err == nil {
		t.Error("a 32 MiB flash was placed over the virtio-mmio windows")
	}
	u, err := b.PlaceDevice(vmm.AreaPlatform, uart.Size)
	if err != nil || u.IRQ != 0 || u.Base+u.Size > p.Base {
		t.Errorf("the UART after the flash: %+v, %v; want SPI 0 below the flash", u, err)
	}
	v, err := b.PlaceDevice(vmm.AreaVirtio, VirtioStride)
	if err != nil || v.Base < p.Base+cfiflash.MaxSize {
		t.Errorf("a virtio window at %#x inside the flash's 16 MiB (%v)", v.Base, err)
	}
}

// The flash's node is kvmtool's, which EDK2's NorFlashKvmtoolLib and
// Linux's physmap-of driver read: no interrupts.
func TestDeviceTreeFlashGolden(t *testing.T) {
	c := testFDTConfig(1, GICv3)
	c.Devices = append(c.Devices, vmm.PlacedDevice{Name: "cfi-flash",
		Placement: vmm.Placement{Base: FlashBase, Size: 1 << 20, IRQ: vmm.NoIRQ}, Describe: cfiflash.Describe})
	blob, err := BuildFDT(c)
	if err != nil {
		t.Fatal(err)
	}
	dts := dtctest.Decode(t, blob)
	dtctest.Golden(t, "gicv3-1cpu-flash", dts, *update)
	node := dts[strings.Index(dts, "flash@2000000 {"):]
	node = node[:strings.Index(node, "};")]
	for _, want := range []string{
		`compatible = "cfi-flash";`,
		`reg = <0x00 0x2000000 0x00 0x100000>;`,
		"bank-width = <0x04>;",
		`label = "System-firmware";`,
		"#address-cells = <0x01>;",
		"#size-cells = <0x01>;",
	} {
		if !strings.Contains(node, want) {
			t.Errorf("the flash node lacks %s:\n%s", want, node)
		}
	}
	if strings.Contains(node, "interrupts") {
		t.Errorf("the flash node has interrupts:\n%s", node)
	}
}
