package memory

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageSize is the transparent huge page (and stage-2 block) size of
// 4 KiB-granule hosts.
const hugePageSize = 2 << 20

// mapAligned maps size bytes of anonymous memory starting on an align
// boundary, as kvmtool does for guest RAM: then every 2 MiB of guest RAM
// can be one transparent huge page from its first fault, mapped by one
// stage-2 block, and none is left for khugepaged to collapse (and so unmap
// from under the guest) later.
func mapAligned(size, align uint64) ([]byte, error) {
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(size+align), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	head := (align - uint64(uintptr(p))%align) % align
	start := unsafe.Add(p, head)
	if head > 0 {
		if err := unix.MunmapPtr(p, uintptr(head)); err != nil {
			unix.MunmapPtr(p, uintptr(size+align))
			return nil, err
		}
	}
	if tail := align - head; tail > 0 {
		if err := unix.MunmapPtr(unsafe.Add(start, size), uintptr(tail)); err != nil {
			unix.MunmapPtr(start, uintptr(size+tail))
			return nil, err
		}
	}
	return unsafe.Slice((*byte)(start), size), nil
}

// Close unmaps RAM. The memory must no longer be used by KVM or devices.
func (m *GuestMemory) Close() error {
	if !m.mmap || m.mem == nil {
		return nil
	}
	err := unix.MunmapPtr(unsafe.Pointer(&m.mem[0]), uintptr(len(m.mem)))
	m.mem = nil
	return err
}
