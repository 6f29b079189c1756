package virtio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// waits reports whether k.Wait(stop) returns true within a second.
func waits(t *testing.T, k *virtio.Kick, stop <-chan struct{}) (returned, got bool) {
	t.Helper()
	returned = virtiotest.ReturnsWithin(time.Second, func() { got = k.Wait(stop) })
	return returned, got
}

// blocks reports whether k.Wait(stop) is still waiting after a while,
// and lets it go with release, which must end the wait; it returns what
// Wait returned.
func blocks(t *testing.T, k *virtio.Kick, stop <-chan struct{}, release func()) bool {
	t.Helper()
	got := make(chan bool, 1)
	go func() { got <- k.Wait(stop) }()
	select {
	case v := <-got:
		t.Fatalf("Wait returned %v with nothing to wait for", v)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case v := <-got:
		return v
	case <-time.After(time.Second):
		t.Fatal("Wait did not return")
		return false
	}
}

func newEvent(t *testing.T) *kvm.EventFD {
	t.Helper()
	e, err := kvm.NewEventFD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestKickEvent: the server waits on the queue's eventfd itself; the
// guest's notification (a write to the eventfd, as KVM makes it) and one
// that arrived as an MMIO write both wake it, once each, and closing its
// stop wakes it with false.
func TestKickEvent(t *testing.T) {
	e := newEvent(t)
	k := virtio.KickOn(e, false)
	stop := make(chan struct{})
	if !blocks(t, k, stop, func() { e.Signal() }) {
		t.Error("a guest notification: Wait false")
	}
	k.Notify()
	k.Notify() // the eventfd counts both; they are one wakeup
	if returned, got := waits(t, k, stop); !returned || !got {
		t.Errorf("an MMIO notification: Wait returned %v with %v", returned, got)
	}
	if blocks(t, k, stop, func() { close(stop) }) {
		t.Error("stopped: Wait true")
	}
	if returned, got := waits(t, k, stop); !returned || got {
		t.Errorf("stopped before Wait: returned %v with %v", returned, got)
	}
}

// TestKickReactivated: each activation's stop wakes its own waiter, and
// the wakers of stopped activations do not pile up.
func TestKickReactivated(t *testing.T) {
	e := newEvent(t)
	k := virtio.KickOn(e, false)
	before := runtime.NumGoroutine()
	for i := 0; i < 100; i++ {
		stop := make(chan struct{})
		// A kick left over from the last activation's stop may
		// return at once: that is a notification with nothing new.
		for {
			got := make(chan bool, 1)
			go func() { got <- k.Wait(stop) }()
			select {
			case <-got:
				continue
			case <-time.After(5 * time.Millisecond):
			}
			close(stop)
			select {
			case v := <-got:
				if v {
					t.Fatalf("activation %d: stopped, Wait true", i)
				}
			case <-time.After(time.Second):
				t.Fatalf("activation %d: stop did not wake the waiter", i)
			}
			break
		}
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after 100 activations, %d before", n, before)
	}
}

// TestKickClosedEvent: once the eventfd is closed (the machine closes
// notifications after stopping its devices), kicks go on the channel and
// a stop still wakes the waiter.
func TestKickClosedEvent(t *testing.T) {
	e := newEvent(t)
	k := virtio.KickOn(e, false)
	e.Close()
	stop := make(chan struct{})
	k.Notify()
	if returned, got := waits(t, k, stop); !returned || !got {
		t.Errorf("an MMIO notification: Wait returned %v with %v", returned, got)
	}
	if blocks(t, k, stop, func() { close(stop) }) {
		t.Error("stopped: Wait true")
	}
}

// TestKickWithoutEvent: on a host without ioeventfds, kicks come on a
// channel.
func TestKickWithoutEvent(t *testing.T) {
	k := virtio.KickOn(nil, false)
	stop := make(chan struct{})
	if !blocks(t, k, stop, func() { k.Notify() }) {
		t.Error("an MMIO notification: Wait false")
	}
	if blocks(t, k, stop, func() { close(stop) }) {
		t.Error("stopped: Wait true")
	}
}

// TestKickKernel: a notification of a queue a host kernel driver serves
// that arrived as an MMIO write is signalled into the kernel's eventfd;
// gokvm never reads that eventfd.
func TestKickKernel(t *testing.T) {
	e := newEvent(t)
	k := virtio.KickOn(e, true)
	stop := make(chan struct{})
	k.Notify()
	if blocks(t, k, stop, func() { close(stop) }) {
		t.Error("stopped: Wait true")
	}
	if !virtiotest.ReturnsWithin(time.Second, func() { e.Wait() }) {
		t.Error("the MMIO notification did not reach the kernel's eventfd")
	}
}
