package arm64

import (
	"bytes"
	"flag"
	"fmt"
	"testing"

	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/vmm"
	"github.com/u-root/u-root/pkg/dt"
)

var update = flag.Bool("update", false, "rewrite the golden device trees")

// kvmMPIDR is the MPIDR KVM gives vcpu i by default (Aff0 = i % 16, Aff1 =
// i / 16, bit 31 RES1), so the goldens match what a real run reads back.
func kvmMPIDR(i int) uint64 { return 1<<31 | uint64(i/16)<<8 | uint64(i%16) }

func testFDTConfig(ncpus int, gic GICVersion) FDTConfig {
	var mpidrs []uint64
	for i := 0; i < ncpus; i++ {
		mpidrs = append(mpidrs, kvmMPIDR(i))
	}
	return FDTConfig{
		RAMBase: DefaultRAMBase, RAMSize: 512 << 20,
		MPIDRs: mpidrs,
		GIC:    gic,
		Devices: []vmm.PlacedDevice{
			{Name: "uart0", Placement: vmm.Placement{Base: PlatformBase, Size: uart.Size, IRQ: 0}, Describe: uart.DescribeConsole},
			{Name: "virtio-blk0", Placement: vmm.Placement{Base: VirtioBase, Size: VirtioStride, IRQ: 1}, Describe: virtio.Describe},
		},
		Cmdline:         "console=ttyS0 earlycon=uart8250,mmio,0x1000000 quiet",
		InitrdStart:     0x9de0_0000,
		InitrdEnd:       0x9de3_2000,
		CPUCompatible:   "arm,arm-v8",
		TimerCompatible: []string{"arm,armv8-timer", "arm,armv7-timer"},
	}
}

func TestDeviceTreeGolden(t *testing.T) {
	for _, gic := range []GICVersion{GICv3, GICv2} {
		for _, n := range []int{1, 4} {
			name := fmt.Sprintf("%s-%dcpu", gic, n)
			t.Run(name, func(t *testing.T) {
				blob, err := BuildFDT(testFDTConfig(n, gic))
				if err != nil {
					t.Fatal(err)
				}
				dtctest.Golden(t, name, dtctest.Decode(t, blob), *update)
			})
		}
	}
}

// The blob must also read back through an independent parser.
func TestDeviceTreeReadsBack(t *testing.T) {
	blob, err := BuildFDT(testFDTConfig(2, GICv3))
	if err != nil {
		t.Fatal(err)
	}
	fdt, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	chosen, ok := fdt.NodeByName("chosen")
	if !ok {
		t.Fatal("no /chosen")
	}
	p, ok := chosen.LookProperty("linux,initrd-end")
	if !ok {
		t.Fatal("no linux,initrd-end")
	}
	if v, err := p.AsU64(); err != nil || v != 0x9de3_2000 {
		t.Errorf("linux,initrd-end = %#x, %v", v, err)
	}
}

func TestDeviceTreeRedistributorsSizedForVcpus(t *testing.T) {
	blob, err := BuildFDT(testFDTConfig(8, GICv3))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("reg = <0x00 0x%x 0x00 0x%x 0x00 0x%x 0x00 0x%x>;", GICDistBase, GICDistSize, GICv3RedistBase(8), 8*GICv3RedistStride)
	if dts := dtctest.Decode(t, blob); !bytes.Contains([]byte(dts), []byte(want)) {
		t.Errorf("GICv3 node lacks %q:\n%s", want, dts)
	}
}

func TestDeviceTreeRNGSeed(t *testing.T) {
	c := testFDTConfig(1, GICv3)
	c.RNGSeed = bytes.Repeat([]byte{0xab}, 64)
	blob, err := BuildFDT(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(dtctest.Decode(t, blob)), []byte("rng-seed = <0xabababab")) {
		t.Errorf("rng-seed missing")
	}
}
