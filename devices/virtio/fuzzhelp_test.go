package virtio

import (
	"unsafe"

	"github.com/gokvm/gokvm/vmm"
)

var errOutOfRangeAlias = vmm.ErrOutOfRange

func newGuestMem(b []byte) *vmm.GuestMemory { return vmm.NewGuestMemoryFromSlice(ramBase, b) }

// inside reports whether s lies within mem.
func inside(mem, s []byte) bool {
	lo := uintptr(unsafe.Pointer(&mem[0]))
	hi := lo + uintptr(len(mem))
	p := uintptr(unsafe.Pointer(&s[0]))
	return p >= lo && p+uintptr(len(s)) <= hi
}
