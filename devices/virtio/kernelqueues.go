package virtio

import "github.com/gokvm/gokvm/vmm"

// FDNotified is a Device that hands some of its queues to a host kernel
// driver (a vhost back-end), which waits on those queues' notifications
// itself: Spec registers their KVM ioeventfds, which no goroutine of
// gokvm's reads, and passes the raw descriptors in ActivateEnv.NotifyFDs
// (a notification arriving as an MMIO write is signalled into them,
// Kick). The device still knows nothing of the transport beyond this.
//
// A device may also implement vmm.Pauser: the transport's Pause then
// pauses it after holding the device's goroutines (Gate), and Resume
// resumes it before letting them go, so a driver running in the host
// kernel stops touching guest memory while the machine is paused.
type FDNotified interface {
	Device
	// FDNotifiedQueues lists the queues whose notifications the device
	// takes as eventfds.
	FDNotifiedQueues() []int
}

// SetNotifyFD records that KVM signals eventfd fd when the driver
// notifies queue i of an FDNotified device, which gets it in
// ActivateEnv.NotifyFDs. Set it before the guest runs; the transport
// does not close fd.
func (t *transport) SetNotifyFD(i int, fd int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i >= 0 && i < len(t.fds) {
		t.fds[i] = fd
	}
}

// notifyFDs is ActivateEnv.NotifyFDs: a copy, for an FDNotified device
// only. t.mu is held.
func (t *transport) notifyFDs() []int {
	if _, ok := t.dev.(FDNotified); !ok {
		return nil
	}
	return append([]int(nil), t.fds...)
}

// fdNotifiedQueues is the set of queues dev takes as eventfds.
func fdNotifiedQueues(dev Device) map[int]bool {
	set := map[int]bool{}
	if d, ok := dev.(FDNotified); ok {
		for _, i := range d.FDNotifiedQueues() {
			set[i] = true
		}
	}
	return set
}

// KernelRings is an FDNotified device whose queues a host kernel driver
// serves: the kernel, not the transport's Queues, knows where the device
// is in those rings. A transport saving its state asks the device for
// them (RingStates) and saves them in place of its Queues'; a restored
// transport puts them back into the Queues the device is activated with
// (Queue.NextAvail), as for any queue.
type KernelRings interface {
	FDNotified
	// RingStates says where the kernel is in the rings of each running
	// queue it serves (every one of FDNotifiedQueues the driver set
	// up), by queue index. It is asked while the transport is paused,
	// so the kernel no longer touches the rings (the device's own Pause
	// stopped it), and fails when the kernel cannot tell.
	RingStates() (map[int]RingState, error)
}

// notifyWith takes queue i's notification n (a KVM ioeventfd), before
// the guest runs: a host kernel driver waits on it itself when the
// device takes the queue's notifications as eventfds (byFD, and n has
// one), and nothing of gokvm's must read it first; otherwise the
// goroutine serving the queue waits on it (Kick.Wait).
func (t *transport) notifyWith(i int, n vmm.Notification, byFD bool) {
	k := t.kicks[i]
	k.n = n
	if raw, ok := n.(vmm.EventFDNotification); ok && byFD {
		k.kernel = true
		t.SetNotifyFD(i, raw.EventFD())
	}
}
