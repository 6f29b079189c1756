package vhost

import (
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// pulseFDs is a machine's vmm.DeviceEnv.PulseFD in a test: it records
// the eventfds made to raise the device's interrupt, and their release.
type pulseFDs struct {
	mu       sync.Mutex
	fds      map[int]bool // taken and not released
	taken    int
	released int
}

func (p *pulseFDs) pulseFD(fd int) (func() error, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fds[fd] = true
	p.taken++
	return func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.fds, fd)
		p.released++
		return nil
	}, nil
}

func (p *pulseFDs) counts() (taken, released, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken, p.released, len(p.fds)
}

// txUsedIdx is where the transmit queue's used index is in the driver's
// RAM (virtiotest's ring layout, as TestRingsSaveRestore has it).
const txUsedIdx = virtiotest.RAMBase + 0x10000 + 0x8000 + 2

// newDirectRings is a vhost device over virtio-mmio on a machine whose
// eventfds can raise the device's interrupt (PulseFD), set up by the
// driver.
func newDirectRings(t *testing.T) (*FakeKernel, savingDevice, *virtiotest.Driver, *pulseFDs) {
	t.Helper()
	k := NewFakeKernel(1 << virtio.FeatureVersion1)
	dev := newSavingDevice(t, k)
	d := virtiotest.New(t, virtio.Modern, dev)
	p := &pulseFDs{fds: map[int]bool{}}
	d.Dev.(*virtio.MMIO).SetPulseFD(p.pulseFD)
	d.Setup(16, 0)
	return k, dev, d, p
}

// TestRingsDirectInterrupts: over virtio-mmio on a host with irqfds, the
// kernel's call eventfds raise the device's interrupt themselves (no
// goroutine of gokvm's relays them), and the transport reports
// USED_BUFFER in every interrupt while they run. A reset gives the
// eventfds back; a broken device's backend is detached.
func TestRingsDirectInterrupts(t *testing.T) {
	k, dev, d, p := newDirectRings(t)

	p.mu.Lock()
	for i, c := range dev.rings.calls {
		if !p.fds[c.fd] {
			t.Errorf("ring %d's call eventfd %d is not an irqfd (%v)", i, c.fd, p.fds)
		}
	}
	p.mu.Unlock()

	// The kernel signals a call: nothing of gokvm's relays it.
	dev.rings.calls[1].signal()
	select {
	case <-d.IRQs:
		t.Error("a goroutine relayed the kernel's call as the transport's interrupt")
	case <-time.After(100 * time.Millisecond):
	}

	// Whatever the rings hold, and after the driver's acknowledgement,
	// the driver's handler is told to look at them.
	wantUsed := func(after string) {
		t.Helper()
		if st := d.Read32(virtio.RegInterruptStatus); st&virtio.InterruptUsedBuffer == 0 {
			t.Errorf("InterruptStatus %#x after %s: USED_BUFFER must be set while the kernel raises the interrupts", st, after)
		}
	}
	wantUsed("the hand-over")
	d.Write32(virtio.RegInterruptACK, virtio.InterruptUsedBuffer)
	wantUsed("an acknowledgement")
	if err := d.Mem.StoreU16(txUsedIdx, 3); err != nil {
		t.Fatal(err)
	}
	wantUsed("the kernel used chains")

	// A reset gives both eventfds back.
	d.Write32(virtio.RegStatus, 0)
	if taken, released, held := p.counts(); taken != 2 || released != 2 || held != 0 {
		t.Errorf("after a reset: %d irqfds taken, %d released, %d held", taken, released, held)
	}
	if st := d.Read32(virtio.RegInterruptStatus); st != 0 {
		t.Errorf("InterruptStatus %#x after a reset", st)
	}

	// Set up again, then the driver breaks the device: the backend is
	// detached although no interrupt goroutine runs to see the gate shut.
	d.Setup(16, 0)
	before := len(k.Calls())
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge) // clears DRIVER_OK without a reset
	if !waitFor(func() bool { return index(k.Calls(), before, "VHOST_NET_SET_BACKEND", 1, detachOf) >= 0 }) {
		t.Fatalf("the broken device's backend was not detached: %v", k.Calls()[before:])
	}
	d.Write32(virtio.RegStatus, 0)
	if taken, released, held := p.counts(); taken != 4 || released != 4 || held != 0 {
		t.Errorf("after the second reset: %d irqfds taken, %d released, %d held", taken, released, held)
	}
}

// TestRingsDirectBrokenWhilePaused: a device the transport breaks while
// the machine is paused (its backend detached by Pause already) stays
// detached when the machine resumes, until the driver resets it.
func TestRingsDirectBrokenWhilePaused(t *testing.T) {
	k, dev, d, _ := newDirectRings(t)
	d.Pause()
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge) // clears DRIVER_OK without a reset
	if !waitFor(func() bool {
		dev.rings.mu.Lock()
		defer dev.rings.mu.Unlock()
		return dev.rings.broken
	}) {
		t.Fatal("the device broken while paused was not marked broken")
	}
	before := len(k.Calls())
	d.Resume()
	if i := index(k.Calls(), before, "VHOST_NET_SET_BACKEND", 1, attachOf); i >= 0 {
		t.Errorf("resuming attached a broken device's backend: %v", k.Calls()[before:])
	}
}

// waitFor polls cond for up to 10 s, for what a goroutine of the device
// does on its own time, and reports whether it came true.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
