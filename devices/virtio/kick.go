package virtio

import (
	"sync"

	"github.com/gokvm/gokvm/vmm"
)

// Kick is how the driver's notifications of one queue reach the goroutine
// serving it. Where the host turns them into an event (a KVM ioeventfd),
// that goroutine waits on the event itself, through Go's poller: a
// notification wakes it with no goroutine in between, where a forwarder
// and a channel would cost two wakeups, often on two threads. A
// notification that arrives as an MMIO write instead (a write the
// ioeventfd does not match) is signalled into the same event; without
// one, kicks go on a channel.
//
// Where a host kernel driver takes the queue's event (FDNotified), no
// goroutine of gokvm's waits on it, and a notification arriving as an
// MMIO write is signalled into it for the kernel.
type Kick struct {
	// n is the queue's event (nil where the host has none), set before
	// the guest runs and never after; kernel says a host kernel driver
	// reads it.
	n      vmm.Notification
	kernel bool
	c      chan struct{} // kicks, where there is no event gokvm waits on

	mu sync.Mutex
	// watched is the stop channel a waker goroutine watches: once it is
	// closed, the waker signals n so that a Wait in progress returns.
	watched <-chan struct{}
}

func newKick() *Kick { return &Kick{c: make(chan struct{}, 1)} }

// notify passes on one notification of the driver's that arrived as an
// MMIO write.
func (k *Kick) notify() {
	if k.n != nil && k.n.Signal() == nil {
		return
	}
	select {
	case k.c <- struct{}{}:
	default:
	}
}

// clear forgets a kick not yet taken, as a reset of the device does. A
// notification pending in the event stays: the next Wait takes it and
// finds nothing new in the queue, which every server of a queue
// tolerates (a restore kicks each queue the same way).
func (k *Kick) clear() {
	select {
	case <-k.c:
	default:
	}
}

// Wait waits for a notification of the queue and reports whether one
// came before stop was closed (false: it was). One that came since the
// last Wait returns at once. One goroutine at a time waits on a Kick,
// with the stop of the device's current activation: the first Wait with
// a new stop starts a goroutine that waits until it is closed and wakes
// the waiter then, so a device's Reset never waits for the guest.
func (k *Kick) Wait(stop <-chan struct{}) bool {
	if k.n == nil || k.kernel {
		return k.waitChan(stop)
	}
	k.watch(stop)
	select {
	case <-stop:
		return false
	default:
	}
	if k.n.Wait() != nil {
		// Closed (the machine is going away; its devices stopped
		// first): kicks come on the channel from now on.
		return k.waitChan(stop)
	}
	select {
	case <-stop:
		return false
	default:
		return true
	}
}

func (k *Kick) waitChan(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	case <-k.c:
		return true
	}
}

// watch makes sure a waker watches stop. The waker signals the event once
// stop is closed; if nothing waits by then, the next activation's first
// Wait finds a notification with nothing new, as after clear.
func (k *Kick) watch(stop <-chan struct{}) {
	if stop == nil {
		return // never closed
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.watched == stop {
		return
	}
	k.watched = stop
	n := k.n
	go func() {
		<-stop
		n.Signal() // fails only once n is closed: then Wait fails too
	}()
}
