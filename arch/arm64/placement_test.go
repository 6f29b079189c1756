package arm64

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func TestPlaceFollowsBootingRules(t *testing.T) {
	const base, size = 0x8000_0000, 256 << 20
	p, err := Place(base, size, 0, 40<<20, 10<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.KernelAddr != base || p.KernelEnd != base+40<<20 {
		t.Errorf("kernel at %#x-%#x, want at the start of RAM", p.KernelAddr, p.KernelEnd)
	}
	if p.FDTAddr%RAMAlign != 0 || p.FDTAddr+MaxFDTSize > base+size {
		t.Errorf("device tree at %#x: not in a 2 MiB block of its own inside RAM", p.FDTAddr)
	}
	if p.InitrdAddr < p.KernelEnd || p.InitrdEnd > p.FDTAddr || p.InitrdEnd-p.InitrdAddr != 10<<20 || p.InitrdAddr%initrdAlign != 0 {
		t.Errorf("initrd at %#x-%#x overlaps the kernel or device tree, or is misaligned", p.InitrdAddr, p.InitrdEnd)
	}
}

func TestPlaceTextOffset(t *testing.T) {
	p, err := Place(0x8000_0000, 64<<20, 0x80000, 8<<20, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.KernelAddr != 0x8008_0000 || p.InitrdAddr != 0 || p.InitrdEnd != 0 {
		t.Errorf("kernel at %#x (want 0x80080000), initrd %#x-%#x (want none)", p.KernelAddr, p.InitrdAddr, p.InitrdEnd)
	}
}

func TestPlaceLimit(t *testing.T) {
	p, err := Place(0x8000_0000, 1<<30, 0, 8<<20, 1<<20, 0x8000_0000+256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if p.FDTAddr+MaxFDTSize > 0x8000_0000+256<<20 {
		t.Errorf("device tree at %#x is above the limit", p.FDTAddr)
	}
}

func TestPlaceRefuses(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		base, size           uint64
		kernel, initrd, want string
		ksize, isize         uint64
	}{
		{name: "initrd larger than RAM", base: 0x8000_0000, size: 64 << 20, ksize: 8 << 20, isize: 80 << 20, want: "does not fit in the guest's 64 MiB"},
		{name: "kernel+initrd+dtb", base: 0x8000_0000, size: 64 << 20, ksize: 40 << 20, isize: 30 << 20, want: "need at least 72 MiB"},
		{name: "kernel+dtb", base: 0x8000_0000, size: 32 << 20, ksize: 31 << 20, want: "need at least 34 MiB"},
		{name: "unaligned base", base: 0x8010_0000, size: 64 << 20, ksize: 1 << 20, want: "not 2 MiB aligned"},
		// Sizes near 2^64 must not wrap into a layout that "fits".
		{name: "kernel size wraps", base: 0x8000_0000, size: 64 << 20, ksize: ^uint64(0) - 0x1000, want: "too small for the kernel"},
		{name: "initrd size wraps", base: 0x8000_0000, size: 64 << 20, ksize: 1 << 20, isize: ^uint64(0) - 0x1000, want: "does not fit"},
		{name: "RAM wraps", base: ^uint64(0) &^ (2<<20 - 1), size: 64 << 20, ksize: 1 << 20, want: "wraps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Place(tc.base, tc.size, 0, tc.ksize, tc.isize, 0)
			if err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tc.want)
			}
		})
	}
}
