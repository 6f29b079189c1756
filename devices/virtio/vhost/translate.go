package vhost

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm/memory"
)

// maxRingSize is the largest ring vhost takes (and the largest a split
// virtqueue has).
const maxRingSize = 32768

// RingAddrs translates queue q's rings, as the driver placed them, into
// the host addresses vhost reads them at (struct vhost_vring_addr for
// ring index). Each part must lie entirely within guest RAM and be
// aligned as virtio requires; the kernel reads the rings through gokvm's
// mapping at these addresses, so a guest address outside RAM is an error
// here, never an address handed on. The transport checked the same
// before activating the queue; this check does not rely on that.
func RingAddrs(mem *memory.GuestMemory, q *virtio.Queue, index uint32) (vringAddr, error) {
	n := uint64(q.Size)
	if !q.Ready || n == 0 || n > maxRingSize || n&(n-1) != 0 {
		return vringAddr{}, fmt.Errorf("queue of size %d (ready %v) is not a usable ring", q.Size, q.Ready)
	}
	parts := []struct {
		name      string
		gpa, size uint64
		align     uint64
		host      *uint64
	}{
		{"descriptor table", q.Desc, 16 * n, 16, nil},
		// flags, idx, ring[n], used_event
		{"available ring", q.Avail, 6 + 2*n, 2, nil},
		// flags, idx, ring[n] of 8 bytes, avail_event
		{"used ring", q.Used, 6 + 8*n, 4, nil},
	}
	a := vringAddr{Index: index}
	parts[0].host, parts[1].host, parts[2].host = &a.Desc, &a.Avail, &a.Used
	for _, p := range parts {
		if p.gpa%p.align != 0 {
			return vringAddr{}, fmt.Errorf("%s at %#x is not %d-byte aligned", p.name, p.gpa, p.align)
		}
		h, err := mem.HostRange(p.gpa, p.size)
		if err != nil {
			return vringAddr{}, fmt.Errorf("%s: %w", p.name, err)
		}
		*p.host = uint64(h)
	}
	return a, nil
}
