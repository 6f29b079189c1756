package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/vmm"
)

// MaxFDTSize is booting.rst's limit for the device tree blob.
const MaxFDTSize = 2 << 20

// initrdAlign keeps the initrd on a page boundary for any guest page size.
const initrdAlign = 64 << 10

// Placement is where the kernel, initrd and device tree go in guest RAM.
type Placement struct {
	KernelAddr uint64 // load address and entry point
	KernelEnd  uint64 // end of the kernel including BSS
	InitrdAddr uint64 // 0 when there is no initrd
	InitrdEnd  uint64
	FDTAddr    uint64
}

func alignDown(v, a uint64) uint64 { return v &^ (a - 1) }
func alignUp(v, a uint64) uint64   { return (v + a - 1) &^ (a - 1) }

// Place plans the payload in RAM [ramBase, ramBase+ramSize) the way
// booting.rst wants it: the Image text_offset above the 2 MiB aligned start
// of RAM, the device tree in a 2 MiB block of its own at the top of RAM, and
// the initrd just below it. limit, when not 0, caps the addresses used for
// initrd and device tree (a 32-bit guest must reach them through lowmem).
func Place(ramBase, ramSize uint64, kernelOffset, kernelSize uint64, initrdSize uint64, limit uint64) (Placement, error) {
	var p Placement
	ramEnd, err := ramRange(ramBase, ramSize)
	if err != nil {
		return p, err
	}
	// Every size here comes from a file or the user: compare before
	// adding, so no sum wraps.
	if kernelOffset > ramSize || kernelSize > ramSize-kernelOffset {
		return p, vmm.Configf("-m %d MiB is too small for the kernel (%d MiB with BSS)", mib(ramSize), mib(kernelOffset)+mib(kernelSize))
	}
	top := ramEnd
	if limit != 0 && limit < top {
		top = limit
	}
	p.KernelAddr = ramBase + kernelOffset
	p.KernelEnd = p.KernelAddr + kernelSize
	if initrdSize >= ramSize {
		return p, vmm.Configf("the initrd (%d MiB) does not fit in the guest's %d MiB of RAM", mib(initrdSize), mib(ramSize))
	}
	if top < ramBase+MaxFDTSize {
		return p, vmm.Configf("-m %d MiB is too small for the kernel (%d MiB with BSS) and the device tree (2 MiB)", mib(ramSize), mib(kernelOffset)+mib(kernelSize))
	}
	p.FDTAddr = alignDown(top-MaxFDTSize, RAMAlign)
	p.InitrdEnd = p.FDTAddr
	// tooSmall says what does not fit: in RAM, or when the limit is
	// what binds, below it, which more RAM does not move.
	tooSmall := func(what string, need uint64) error {
		if top < ramEnd {
			return vmm.Configf("%s need %d MiB, more than the first %d MiB of RAM, where they must go", what, mib(alignUp(need, 1<<20)), mib(top-ramBase))
		}
		return vmm.Configf("-m %d MiB is too small: %s need at least %d MiB", mib(ramSize), what, mib(alignUp(need, 1<<20)))
	}
	if initrdSize > 0 {
		p.InitrdAddr = alignDown(p.FDTAddr-initrdSize, initrdAlign)
		if p.FDTAddr < initrdSize || p.InitrdAddr < alignUp(p.KernelEnd, RAMAlign) {
			need := alignUp(kernelOffset+kernelSize, RAMAlign) + alignUp(initrdSize, initrdAlign) + MaxFDTSize
			return p, tooSmall(fmt.Sprintf("the kernel (%d MiB with BSS), the initrd (%d MiB) and the device tree (2 MiB)", mib(kernelOffset+kernelSize), mib(initrdSize)), need)
		}
		p.InitrdEnd = p.InitrdAddr + initrdSize
	} else {
		p.InitrdAddr, p.InitrdEnd = 0, 0
	}
	if p.FDTAddr < alignUp(p.KernelEnd, RAMAlign) {
		need := alignUp(kernelOffset+kernelSize, RAMAlign) + MaxFDTSize
		return p, tooSmall(fmt.Sprintf("the kernel (%d MiB with BSS) and the device tree (2 MiB)", mib(kernelOffset+kernelSize)), need)
	}
	return p, nil
}

// PlaceFirmware plans a firmware image of size bytes as kvmtool's
// --firmware places one (arm/kvm.c's kvm__load_firmware): at addr, the
// start of RAM when 0, entered at its first byte, and the device tree at
// the next 2 MiB boundary after it. There is no initrd.
func PlaceFirmware(ramBase, ramSize, addr, size uint64) (Placement, error) {
	var p Placement
	ramEnd, err := ramRange(ramBase, ramSize)
	if err != nil {
		return p, err
	}
	if addr == 0 {
		addr = ramBase
	}
	switch {
	case addr < ramBase || addr >= ramEnd:
		return p, vmm.Configf("firmware address %#x is not in RAM (%#x-%#x)", addr, ramBase, ramEnd-1)
	case addr%4 != 0:
		return p, vmm.Configf("firmware address %#x is not 4-byte aligned: a vcpu cannot start there", addr)
	case size > ramEnd-addr:
		return p, vmm.Configf("the firmware (%d bytes) does not fit in RAM above %#x (%d bytes to %#x)", size, addr, ramEnd-addr, ramEnd)
	}
	p.KernelAddr, p.KernelEnd = addr, addr+size
	p.FDTAddr = alignUp(p.KernelEnd, RAMAlign)
	if p.FDTAddr > ramEnd || ramEnd-p.FDTAddr < MaxFDTSize {
		return p, vmm.Configf("no room for the device tree (2 MiB) after the firmware, which ends at %#x: RAM ends at %#x", p.KernelEnd, ramEnd)
	}
	return p, nil
}

// ramRange checks that RAM starts 2 MiB aligned and does not wrap, and
// returns where it ends.
func ramRange(ramBase, ramSize uint64) (uint64, error) {
	if ramBase%RAMAlign != 0 {
		return 0, vmm.Configf("guest RAM base %#x is not 2 MiB aligned", ramBase)
	}
	if ramBase+ramSize < ramBase {
		return 0, vmm.Configf("guest RAM at %#x+%#x wraps around the address space", ramBase, ramSize)
	}
	return ramBase + ramSize, nil
}

func mib(v uint64) uint64 { return (v + (1<<20 - 1)) >> 20 }
