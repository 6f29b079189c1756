// Package memory is the guest's RAM as gokvm sees it: one anonymous host
// mapping behind bounds-checked accessors, so that no guest-controlled
// address reaches host memory outside it.
package memory

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrOutOfRange is wrapped by every guest-physical access that falls outside
// guest RAM. Devices turn it into an error status for the guest.
var ErrOutOfRange = errors.New("guest physical address outside RAM")

// ErrBadSize is wrapped when guest RAM of the asked size or place cannot
// be made; callers report it as a configuration problem.
var ErrBadSize = errors.New("unusable guest memory size")

// GuestMemory is the guest's RAM: one contiguous range of guest-physical
// addresses backed by an anonymous host mapping. Every access from a device
// goes through its bounds-checked accessors, so a guest-controlled address
// can never reach host memory outside the mapping.
type GuestMemory struct {
	base uint64
	mem  []byte
	mmap bool
}

// NewGuestMemory maps size bytes of anonymous memory for guest-physical
// addresses [base, base+size).
func NewGuestMemory(base, size uint64) (*GuestMemory, error) {
	if size == 0 || size > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("%w: %d bytes is not usable on this host", ErrBadSize, size)
	}
	if base+size < base {
		return nil, fmt.Errorf("%w: %#x bytes at %#x wrap around the address space", ErrBadSize, size, base)
	}
	mem, err := mapAligned(size, hugePageSize)
	if err != nil {
		return nil, fmt.Errorf("mapping %d MiB of guest RAM: %w", size>>20, err)
	}
	// Transparent huge pages cut stage-2 faults; failing is harmless.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	// A core dump of gokvm must not carry the guest's memory (its keys,
	// its users' data): leave RAM out of dumps.
	if err := unix.Madvise(mem, unix.MADV_DONTDUMP); err != nil {
		g := &GuestMemory{base: base, mem: mem, mmap: true}
		g.Close()
		return nil, fmt.Errorf("excluding guest RAM from core dumps (MADV_DONTDUMP): %w", err)
	}
	return &GuestMemory{base: base, mem: mem, mmap: true}, nil
}

// NewGuestMemoryFromSlice wraps an existing buffer, for tests that simulate
// guest memory without KVM.
func NewGuestMemoryFromSlice(base uint64, buf []byte) *GuestMemory {
	return &GuestMemory{base: base, mem: buf}
}

// Base is the guest-physical address of the first byte of RAM.
func (m *GuestMemory) Base() uint64 { return m.base }

// Size is the number of bytes of RAM.
func (m *GuestMemory) Size() uint64 { return uint64(len(m.mem)) }

// End is the first guest-physical address after RAM.
func (m *GuestMemory) End() uint64 { return m.base + uint64(len(m.mem)) }

// Bytes exposes the whole mapping, for KVM_SET_USER_MEMORY_REGION; devices
// use Slice.
func (m *GuestMemory) Bytes() []byte { return m.mem }

// Contains reports whether [gpa, gpa+n) lies entirely within RAM.
func (m *GuestMemory) Contains(gpa, n uint64) bool {
	if gpa < m.base {
		return false
	}
	off := gpa - m.base
	return off <= uint64(len(m.mem)) && n <= uint64(len(m.mem))-off
}

// Slice returns the host view of guest-physical [gpa, gpa+n).
func (m *GuestMemory) Slice(gpa, n uint64) ([]byte, error) {
	if !m.Contains(gpa, n) {
		return nil, fmt.Errorf("%w: [%#x, +%#x) not within [%#x, %#x)", ErrOutOfRange, gpa, n, m.base, m.End())
	}
	off := gpa - m.base
	return m.mem[off : off+n : off+n], nil
}

// Read copies guest memory at gpa into buf.
func (m *GuestMemory) Read(gpa uint64, buf []byte) error {
	s, err := m.Slice(gpa, uint64(len(buf)))
	if err != nil {
		return err
	}
	copy(buf, s)
	return nil
}

// Write copies buf into guest memory at gpa.
func (m *GuestMemory) Write(gpa uint64, buf []byte) error {
	s, err := m.Slice(gpa, uint64(len(buf)))
	if err != nil {
		return err
	}
	copy(s, buf)
	return nil
}

// ReadU64 reads a little-endian 64-bit value.
func (m *GuestMemory) ReadU64(gpa uint64) (uint64, error) {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s), nil
}
