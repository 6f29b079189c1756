package memory

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// word returns the aligned 32-bit word of RAM holding the 16-bit field at
// gpa, and the field's shift in it (little-endian).
func (m *GuestMemory) word(gpa uint64) (*uint32, uint, error) {
	if gpa%2 != 0 {
		return nil, 0, fmt.Errorf("%w: 16-bit field at odd address %#x", ErrOutOfRange, gpa)
	}
	s, err := m.Slice(gpa&^3, 4)
	if err != nil {
		return nil, 0, err
	}
	return (*uint32)(unsafe.Pointer(&s[0])), uint(gpa&3) * 8, nil
}

// LoadU16 reads a 16-bit little-endian field with acquire ordering: ring
// indices shared with a driver on another CPU are read this way. The base
// of RAM is page aligned, so gpa&^3 is 4-byte aligned on the host too.
func (m *GuestMemory) LoadU16(gpa uint64) (uint16, error) {
	w, shift, err := m.word(gpa)
	if err != nil {
		return 0, err
	}
	return uint16(atomic.LoadUint32(w) >> shift), nil
}

// StoreU16 writes a 16-bit little-endian field with release ordering,
// leaving the other half of its word (which the driver may be writing) as
// it is.
func (m *GuestMemory) StoreU16(gpa uint64, v uint16) error {
	w, shift, err := m.word(gpa)
	if err != nil {
		return err
	}
	for {
		old := atomic.LoadUint32(w)
		nv := old&^(0xffff<<shift) | uint32(v)<<shift
		if atomic.CompareAndSwapUint32(w, old, nv) {
			return nil
		}
	}
}

// HostAddr is where RAM is mapped in gokvm, for accounting (/proc/self/smaps)
// and KVM; 0 when there is none.
func (m *GuestMemory) HostAddr() uintptr {
	if len(m.mem) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&m.mem[0]))
}
