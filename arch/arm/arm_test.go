package arm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/internal/dtctest"
	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

var update = flag.Bool("update", false, "rewrite the golden device trees")

func TestParseZImage(t *testing.T) {
	z, err := ParseZImage(testimage.Zimage(8192))
	if err != nil {
		t.Fatal(err)
	}
	if z.Start != 0 || z.End != 8192 || len(z.Data) != 8192 {
		t.Errorf("parsed start %#x end %#x len %d", z.Start, z.End, len(z.Data))
	}
	be := testimage.Zimage(8192)
	binary.LittleEndian.PutUint32(be[zEndianOff:], zEndianBE)
	backwards := testimage.Zimage(8192)
	binary.LittleEndian.PutUint32(backwards[zStartOffset:], 9000)
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"garbage", []byte(strings.Repeat("not a kernel ", 10)), "no zImage magic"},
		{"short", []byte("MZ"), "too short"},
		{"truncated", testimage.Zimage(8192)[:5000], "truncated"},
		{"arm64 Image", testimage.Arm64(4096, 0, 8192), "found an arm64 Image"},
		{"big-endian", be, "big-endian"},
		{"end before start", backwards, "not after its start"},
	} {
		_, err := ParseZImage(tc.b)
		if !errors.Is(err, ErrNotZImage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrNotZImage mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestParseZImageAbsurdSize(t *testing.T) {
	z := testimage.Zimage(8192)
	binary.LittleEndian.PutUint32(z[0x28:], 0x1000)
	binary.LittleEndian.PutUint32(z[0x2c:], 0xffff_f000)
	if _, err := ParseZImage(z); err == nil || !errors.Is(err, ErrNotZImage) || !strings.Contains(err.Error(), "is absurd") {
		t.Errorf("a zImage claiming 4 GiB: %v", err)
	}
}

func FuzzParseZImage(f *testing.F) {
	f.Add(testimage.Zimage(64))
	f.Add(testimage.Arm64(64, 0, 128))
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := ParseZImage(b)
		if err != nil {
			if !errors.Is(err, ErrNotZImage) {
				t.Fatalf("error not wrapping ErrNotZImage: %v", err)
			}
			return
		}
		if uint64(z.End-z.Start) > uint64(len(z.Data)) {
			t.Fatalf("accepted a zImage shorter than its header says")
		}
	})
}

// The register ids of both kinds of host, checked against the uapi
// headers' encodings: arm64 core registers are 64-bit words of struct
// kvm_regs, a 32-bit host's are 32-bit words.
func TestRegisterIDs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"arm64 host r0", regsOnARM64Host.R0, 0x6030_0000_0010_0000},
		{"arm64 host r2", regsOnARM64Host.R2, 0x6030_0000_0010_0004},
		{"arm64 host pc", regsOnARM64Host.PC, 0x6030_0000_0010_0040},
		{"arm64 host cpsr (pstate)", regsOnARM64Host.CPSR, 0x6030_0000_0010_0042},
		{"arm64 host MPIDR_EL1", regsOnARM64Host.MPIDR, 0x6030_0000_0013_c005},
		{"arm host r0", regsOnARMHost.R0, 0x4020_0000_0010_0000},
		{"arm host r1", regsOnARMHost.R1, 0x4020_0000_0010_0001},
		{"arm host r2", regsOnARMHost.R2, 0x4020_0000_0010_0002},
		{"arm host pc (r15)", regsOnARMHost.PC, 0x4020_0000_0010_000f},
		{"arm host cpsr", regsOnARMHost.CPSR, 0x4020_0000_0010_0010},
		{"arm host MPIDR (cp15 c0,c0,0,5)", regsOnARMHost.MPIDR, 0x4020_0000_000f_0005},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
	// 32-bit host ids say 32-bit size (bits 52-55 = 2), arm64 ones 64-bit.
	for _, id := range []uint64{regsOnARMHost.R0, regsOnARMHost.PC, regsOnARMHost.MPIDR} {
		if id>>52&0xf != 2 {
			t.Errorf("%#x is not a 32-bit register id", id)
		}
	}
}

func TestLinkRegisterPerMode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host32 bool
		cpsr   uint64
		want   uint64
	}{
		{"arm64 host, svc: lr_svc is x18", false, 0x600001d3, 0x6030_0000_0010_0024},
		{"arm64 host, irq: lr_irq is x16", false, 0x192, 0x6030_0000_0010_0020},
		{"arm64 host, usr: r14 is x14", false, 0x10, 0x6030_0000_0010_001c},
		{"arm64 host, sys shares usr's r14", false, 0x1f, 0x6030_0000_0010_001c},
		{"arm64 host, und: lr_und is x22", false, 0x1b, 0x6030_0000_0010_002c},
		{"arm host, svc: svc_regs[1]", true, 0x1d3, 0x4020_0000_0010_0013},
		{"arm host, irq: irq_regs[1]", true, 0x12, 0x4020_0000_0010_001c},
		{"arm host, usr: r14", true, 0x10, 0x4020_0000_0010_000e},
		{"hyp has no lr of its own here", false, 0x1a, 0},
		{"fiq's banked lr is not looked up", true, 0x11, 0},
	} {
		if got := lrReg(tc.host32, tc.cpsr); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestBootRegisters(t *testing.T) {
	for _, host32 := range []bool{false, true} {
		g := AArch32{Host32: host32}
		r := hostRegs(host32)
		got := map[uint64]uint64{}
		for _, kv := range g.BootRegs(0x8000_8000, 0x8fe0_0000) {
			got[kv[0]] = kv[1]
		}
		want := map[uint64]uint64{r.R0: 0, r.R1: 0xffffffff, r.R2: 0x8fe0_0000, r.PC: 0x8000_8000, r.CPSR: 0x1d3}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("host32=%v: boot registers %v, want %v", host32, got, want)
		}
	}
}

func TestVcpuFeaturesAndTarget(t *testing.T) {
	if f := (AArch32{}).VcpuFeatures(); len(f) != 1 || f[0] != arm64.VcpuFeatureEL132Bit {
		t.Errorf("on an arm64 host an AArch32 vcpu needs EL1_32BIT, got %v", f)
	}
	if f := (AArch32{Host32: true}).VcpuFeatures(); len(f) != 0 {
		t.Errorf("on a 32-bit host no extra feature, got %v", f)
	}
}

type fakeCaps map[kvm.Capability]int

func (f fakeCaps) CheckExtension(c kvm.Capability) int { return f[c] }

func TestCheckHostNeedsEL132Bit(t *testing.T) {
	err := AArch32{}.CheckHost(fakeCaps{})
	var mce *kvm.MissingCapabilityError
	if !errors.As(err, &mce) || mce.Cap != kvm.CapArmEL132Bit || !strings.Contains(err.Error(), "only at EL0") {
		t.Errorf("a host without KVM_CAP_ARM_EL1_32BIT: %v", err)
	}
	if err := (AArch32{}).CheckHost(fakeCaps{kvm.CapArmEL132Bit: 1}); err != nil {
		t.Errorf("a host with the capability: %v", err)
	}
	if err := (AArch32{Host32: true}).CheckHost(fakeCaps{}); err != nil {
		t.Errorf("a 32-bit host needs no capability for 32-bit guests: %v", err)
	}
}

func TestPlacementInLowmem(t *testing.T) {
	g := AArch32{}
	k, err := g.Load(testimage.Zimage(5 << 20))
	if err != nil {
		t.Fatal(err)
	}
	const base, size = 0x8000_0000, 1 << 30
	p, err := arm64.Place(base, size, k.Offset, k.Size, 3<<20, g.PlacementLimit(base, size))
	if err != nil {
		t.Fatal(err)
	}
	if p.KernelAddr != base+0x8000 {
		t.Errorf("zImage at %#x, want RAM+0x8000", p.KernelAddr)
	}
	if p.FDTAddr+arm64.MaxFDTSize > base+256<<20 || p.InitrdEnd > p.FDTAddr || p.InitrdAddr < p.KernelEnd {
		t.Errorf("initrd %#x-%#x and device tree %#x not in lowmem above the kernel", p.InitrdAddr, p.InitrdEnd, p.FDTAddr)
	}
	if err := g.CheckRAM(0xc000_0000, 2<<30); err == nil {
		t.Errorf("RAM beyond 4 GiB accepted for a 32-bit guest")
	}
}

func TestDeviceTreeGolden32(t *testing.T) {
	g := AArch32{}
	for _, gic := range []arm64.GICVersion{arm64.GICv3, arm64.GICv2} {
		name := fmt.Sprintf("aarch32-%s-2cpu", gic)
		blob, err := arm64.BuildFDT(arm64.FDTConfig{
			RAMBase: arm64.DefaultRAMBase, RAMSize: 256 << 20,
			MPIDRs: []uint64{0x8000_0000, 0x8000_0001},
			GIC:    gic,
			Devices: []vmm.PlacedDevice{
				{Name: "uart0", Placement: vmm.Placement{Base: arm64.PlatformBase, Size: uart.Size, IRQ: 0}, Describe: uart.DescribeConsole},
				{Name: "virtio-blk0", Placement: vmm.Placement{Base: arm64.VirtioBase, Size: arm64.VirtioStride, IRQ: 1}, Describe: virtio.Describe},
			},
			Cmdline:         "console=ttyS0",
			InitrdStart:     0x8f00_0000,
			InitrdEnd:       0x8f20_0000,
			CPUCompatible:   g.CPUCompatible(),
			TimerCompatible: g.TimerCompatible(),
		})
		if err != nil {
			t.Fatal(err)
		}
		out := dtctest.Decode(t, blob)
		dtctest.Golden(t, name, out, *update)
		for _, must := range []string{`compatible = "arm,cortex-a15"`, `compatible = "arm,armv7-timer"`, `compatible = "arm,psci-0.2"`} {
			if !strings.Contains(out, must) {
				t.Errorf("%s lacks %s", name, must)
			}
		}
	}
}

// With --aarch32, a file without zImage magic loads as kvmtool loads it:
// as it is, at RAM+0x8000 (where kvm-unit-tests' 32-bit tests are linked
// to run under kvmtool), its whole length; its device tree in lowmem.
func TestLoadFlat32(t *testing.T) {
	for _, file := range [][]byte{
		[]byte("MZ"), // too short for a zImage header, so no magic either
		[]byte(strings.Repeat("not a kernel ", 10)),
		testimage.Gzip([]byte("data")),
	} {
		k, err := AArch32{}.Load(file)
		if err != nil {
			t.Errorf("%q: refused: %v", file, err)
			continue
		}
		if string(k.Data) != string(file) || k.Offset != 0x8000 || k.Size != uint64(len(file)) || k.FlatWhy != "has no zImage magic" {
			t.Errorf("%q: loaded %+v, want the file at RAM+0x8000 as a flat binary", file, k)
		}
	}
	be := testimage.Zimage(8192)
	binary.BigEndian.PutUint32(be[zMagicOffset:], zMagic)
	for name, file := range map[string][]byte{
		"empty":                 nil,
		"an arm64 Image":        testimage.Arm64(4096, 0, 8192),
		"a big-endian zImage":   be,
		"a truncated zImage":    testimage.Zimage(8192)[:4096],
		"an arm64 Image, short": testimage.Arm64(64, 0, 64)[:60],
	} {
		if k, err := (AArch32{}).Load(file); err == nil {
			t.Errorf("%s: loaded (flat: %q)", name, k.FlatWhy)
		}
	}
	var logged bytes.Buffer
	b := arm64.New(arm64.Options{Guest: AArch32{}, Log: log.New(&logged, "gokvm: ", 0)})
	const base, size = 0x8000_0000, 1 << 30
	if err := b.Prepare(vmm.Payload{Kernel: []byte("flat"), KernelName: "t.bin"}, base, size, 1); err != nil {
		t.Fatal(err)
	}
	if p := b.Placement(); p.KernelAddr != 0x8000_8000 || p.FDTAddr != base+254<<20 {
		t.Errorf("flat payload at %#x, device tree at %#x; want 0x80008000 and the top of lowmem", p.KernelAddr, p.FDTAddr)
	}
	if want := "gokvm: kernel t.bin has no zImage magic; loading it as a flat binary at 0x80008000 as kvmtool does\n"; logged.String() != want {
		t.Errorf("logged %q, want %q", logged.String(), want)
	}
	// Firmware goes at the start of RAM for a 32-bit guest too.
	fw := arm64.New(arm64.Options{Guest: AArch32{}})
	if err := fw.Prepare(vmm.Payload{Firmware: []byte("firmware")}, base, size, 1); err != nil {
		t.Fatal(err)
	}
	if p := fw.Placement(); p.KernelAddr != base || p.FDTAddr != base+2<<20 {
		t.Errorf("32-bit firmware at %#x, device tree at %#x", p.KernelAddr, p.FDTAddr)
	}
}
