package virtio

import (
	"unsafe"

	"github.com/gokvm/gokvm/vmm/memory"
)

var errOutOfRangeAlias = memory.ErrOutOfRange

func newGuestMem(b []byte) *memory.GuestMemory { return memory.NewGuestMemoryFromSlice(ramBase, b) }

// inside reports whether s lies within mem.
func inside(mem, s []byte) bool {
	lo := uintptr(unsafe.Pointer(&mem[0]))
	hi := lo + uintptr(len(mem))
	p := uintptr(unsafe.Pointer(&s[0]))
	return p >= lo && p+uintptr(len(s)) <= hi
}
