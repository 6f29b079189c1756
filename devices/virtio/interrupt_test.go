package virtio_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm/memory"
)

// The guest's interrupt handler reads InterruptStatus (an MMIO exit, on a
// vcpu thread) as soon as the edge reaches it. The transport raises the
// edge after releasing its lock, so that read does not wait for the
// device goroutine to come back from the irqfd write: with the lock held,
// the vcpu thread slept on it and was woken again for most interrupts
// (issue #22). Here the edge itself reads the register, as a handler
// that is fast enough would; with the lock held across the edge, that
// read would never return.
func TestMMIOEdgeRaisedOutsideTheLock(t *testing.T) {
	var tr *virtio.MMIO
	seen := make(chan uint32, 1)
	pulse := func() {
		b := make([]byte, 4)
		tr.ReadMMIO(virtio.RegInterruptStatus, b)
		seen <- binary.LittleEndian.Uint32(b)
	}
	mem := memory.NewGuestMemoryFromSlice(virtiotest.RAMBase, make([]byte, 4096))
	tr = virtio.NewMMIO("edge", virtio.Modern, &echoDevice{}, mem, pulse, nil)
	done := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-done:
			tr.Close()
		default: // the lock is held for good: Close would wait on it
		}
	})
	go func() {
		defer close(done)
		tr.RaiseUsed(0)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the interrupt's edge was raised with the transport's lock held: the handler's InterruptStatus read never returned")
	}
	if got := <-seen; got&virtio.InterruptUsedBuffer == 0 {
		t.Errorf("InterruptStatus read %#x as the edge arrived: the used-buffer bit was not set before it", got)
	}
}
