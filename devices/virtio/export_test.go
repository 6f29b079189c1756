package virtio

import "github.com/gokvm/gokvm/vmm"

// SetLastAvail sets how far the device has taken the available ring, for
// queue tests in package virtio_test.
func SetLastAvail(q *Queue, v uint16) { q.lastAvail = v }

// KickOn is a queue's Kick waiting on n, or n's host kernel driver's
// (kernel); nil n: a host without ioeventfds.
func KickOn(n vmm.Notification, kernel bool) *Kick {
	k := newKick()
	k.n, k.kernel = n, kernel
	return k
}

// Notify is what the transport does with a notification that arrived as
// an MMIO write.
func (k *Kick) Notify() { k.notify() }

// RaiseUsed raises a used-buffer interrupt for queue, as the device's
// ActivateEnv.Interrupt does.
func (t *MMIO) RaiseUsed(queue int) { t.interrupt(queue) }

// Locked reports whether some goroutine holds the transport's lock.
func (t *MMIO) Locked() bool { return t.transport.locked() }

// Locked reports whether some goroutine holds the transport's lock.
func (t *PCI) Locked() bool { return t.transport.locked() }

func (t *transport) locked() bool {
	if t.mu.TryLock() {
		t.mu.Unlock()
		return false
	}
	return true
}
