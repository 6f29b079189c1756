package vhost

import (
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio"
)

// RingStates says where the kernel is in each ring, by the device's queue
// index (virtio.KernelRings). It is asked while the machine is paused, the
// backend detached: then the kernel touches no ring (detaching flushes
// the ring's work, and a handler finding no backend returns at once:
// vhost_net_set_backend and vhost_vsock_stop in drivers/vhost), and what
// it says holds until Resume.
//
//   - The next available entry it takes is VHOST_GET_VRING_BASE's answer,
//     the ring's last_avail_idx (vhost_vring_ioctl in drivers/vhost/vhost.c).
//     Unlike vhost-user's, the kernel's GET_VRING_BASE stops nothing: the
//     detached backend is what keeps it still, and Resume attaches it
//     again with the ring where it was.
//   - The used index is the one in guest RAM: the kernel writes each used
//     element and then the index, and keeps no element it has not
//     published once detached (vhost-net waits for its zero-copy
//     transmits then, vhost_net_ubuf_put_wait_and_free). A restored kernel
//     reads it back from RAM when its backend is attached
//     (vhost_vq_init_access); the saved used index is for the transport's
//     checks.
//   - When the kernel last interrupted is its own, and not asked: a
//     restored kernel interrupts at its next used element
//     (signalled_used_valid false at vhost_vq_init_access), and Activate
//     raises one interrupt of its own for what the saved one may have owed.
//
// No dirty-page log is needed: guest RAM is saved after the rings stop.
func (r *Rings) RingStates() (map[int]virtio.RingState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return nil, fmt.Errorf("%s: %w", r.name, errClosed)
	case !r.active:
		return nil, fmt.Errorf("%s: the rings are not set up", r.name)
	case r.attached:
		return nil, errors.New(r.name + ": the kernel still runs the rings: pause the device first")
	}
	states := make(map[int]virtio.RingState, len(r.queues))
	for i, qi := range r.queues {
		base, err := r.dev.GetVringBase(uint32(i))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		q := r.env.Queues[qi]
		used, err := r.env.Mem.LoadU16(q.Used + 2)
		if err != nil {
			return nil, fmt.Errorf("%s: queue %d's used index: %w", r.name, qi, err)
		}
		states[qi] = virtio.RingState{NextAvail: base, UsedIdx: used, UsedAdded: used, UsedSignalled: used}
	}
	return states, nil
}
