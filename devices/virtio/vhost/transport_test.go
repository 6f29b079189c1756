package vhost

import (
	"sync"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// rawNote is a notification backed by a descriptor (vmm.EventFDNotification)
// that records whether anyone waited on it or signalled it.
type rawNote struct {
	fd        int
	mu        sync.Mutex
	waited    bool
	signalled int
	closed    chan struct{}
}

func (n *rawNote) EventFD() int { return n.fd }
func (n *rawNote) Wait() error {
	n.mu.Lock()
	n.waited = true
	n.mu.Unlock()
	<-n.closed
	return vmm.ErrUnsupported
}
func (n *rawNote) Signal() error {
	n.mu.Lock()
	n.signalled++
	n.mu.Unlock()
	return nil
}
func (n *rawNote) Close() error {
	select {
	case <-n.closed:
	default:
		close(n.closed)
	}
	return nil
}

// TestNotifyFDs: the transport hands an FDNotified device the raw
// eventfds of the queues it listed and waits on none of them itself
// (queue 2's is the device's to wait on, through its Kick, and this
// device serves none); a notification of a listed queue that arrives as
// an MMIO write is signalled into its eventfd, for the kernel. Without
// ioeventfds every entry is -1.
func TestNotifyFDs(t *testing.T) {
	dev := &translating{t: t}
	notes := map[uint32]*rawNote{}
	d := virtiotest.NewFromSpec(t, virtio.Spec("fd", virtio.Modern, dev), func(off uint64, v uint32) (vmm.Notification, error) {
		if off != virtio.RegQueueNotify {
			t.Errorf("WatchWrite at %#x", off)
		}
		n := &rawNote{fd: 100 + int(v), closed: make(chan struct{})}
		notes[v] = n
		return n, nil
	})
	d.Setup(16, 0)
	if dev.activated != 1 {
		t.Fatalf("activated %d times", dev.activated)
	}
	d.SelectQueue(1)
	d.Kick()
	d.Close()
	for q, n := range notes {
		n.mu.Lock()
		waited, signalled := n.waited, n.signalled
		n.mu.Unlock()
		if waited {
			t.Errorf("queue %d: gokvm waited on its notification", q)
		}
		if want := b2i(q == 1); signalled != want {
			t.Errorf("queue %d: signalled %d times by MMIO kicks, want %d", q, signalled, want)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// recording records the NotifyFDs a device is activated with.
type recording struct {
	*translating
	fds *[]int
}

func (r *recording) Activate(env virtio.ActivateEnv) error {
	*r.fds = append([]int(nil), env.NotifyFDs...)
	return r.translating.Activate(env)
}

// TestNotifyFDValues: the descriptors themselves, per queue.
func TestNotifyFDValues(t *testing.T) {
	for _, watch := range []bool{true, false} {
		var got []int
		dev := &recording{translating: &translating{t: t}, fds: &got}
		var w func(uint64, uint32) (vmm.Notification, error)
		want := []int{-1, -1, -1}
		if watch {
			w = func(_ uint64, v uint32) (vmm.Notification, error) {
				return &rawNote{fd: 100 + int(v), closed: make(chan struct{})}, nil
			}
			want = []int{100, 101, -1}
		}
		d := virtiotest.NewFromSpec(t, virtio.Spec("fd", virtio.Modern, dev), w)
		d.Setup(16, 0)
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("ioeventfds %v: NotifyFDs %v, want %v", watch, got, want)
		}
		d.Close()
	}
}

// TestHostileRingsRefused: a driver that places a listed queue's rings
// outside RAM never gets it to the device (the transport refuses it and
// the device needs a reset).
func TestHostileRingsRefused(t *testing.T) {
	dev := &translating{t: t}
	d := virtiotest.New(t, virtio.Modern, dev)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	d.Write32(virtio.RegQueueSel, 0)
	d.Write32(virtio.RegQueueNum, 256)
	d.Write32(virtio.RegQueueDescLow, uint32(virtiotest.RAMBase+virtiotest.RAMSize-256))
	d.Write32(virtio.RegQueueDriverLow, uint32(virtiotest.RAMBase))
	d.Write32(virtio.RegQueueDeviceLow, uint32(virtiotest.RAMBase+0x1000))
	d.Write32(virtio.RegQueueReady, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	if dev.activated != 0 {
		t.Errorf("activated with a descriptor table past the end of RAM")
	}
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Errorf("status %#x lacks DEVICE_NEEDS_RESET", d.Read32(virtio.RegStatus))
	}
}
