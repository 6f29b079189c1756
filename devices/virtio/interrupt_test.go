package virtio_test

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm/memory"
)

// The guest's interrupt handler reads InterruptStatus (an MMIO exit, on a
// vcpu thread) as soon as the edge reaches it. The transport raises the
// edge after releasing its lock, so that the read does not wait for the
// device goroutine to come back from the irqfd write, and sets the bit
// before, so that the read finds it.
func TestMMIOEdgeRaisedOutsideTheLock(t *testing.T) {
	var tr *virtio.MMIO
	var locked bool
	var status uint32
	pulses := 0
	pulse := func() {
		pulses++
		if locked = tr.Locked(); locked {
			return // a read now would wait for ever
		}
		b := make([]byte, 4)
		tr.ReadMMIO(virtio.RegInterruptStatus, b)
		status = binary.LittleEndian.Uint32(b)
	}
	mem := memory.NewGuestMemoryFromSlice(virtiotest.RAMBase, make([]byte, 4096))
	tr = virtio.NewMMIO("edge", virtio.Modern, &echoDevice{}, mem, pulse, nil)
	defer tr.Close()
	tr.RaiseUsed(0)
	switch {
	case pulses != 1:
		t.Fatalf("%d edges for one interrupt", pulses)
	case locked:
		t.Fatal("the interrupt's edge was raised with the transport's lock held: the handler's InterruptStatus read would wait on it")
	case status&virtio.InterruptUsedBuffer == 0:
		t.Errorf("InterruptStatus read %#x as the edge arrived: the used-buffer bit was not set before it", status)
	}
}

// An MSI-X message is sent after the transport's lock is released too: a
// device's receive and transmit goroutines, and the vcpus' accesses to
// the function, do not wait on each other's irqfd writes.
func TestPCIMessageSentOutsideTheLock(t *testing.T) {
	d, m := virtiotest.NewPCI(t, &echoDevice{}, true)
	tr := d.Dev.(*virtio.PCI)
	var sent, whileLocked atomic.Int64
	m.OnMSI = func(uint32) {
		sent.Add(1)
		if tr.Locked() {
			whileLocked.Add(1)
		}
	}
	d.Setup(16, 1<<virtio.FeatureEventIdx)
	for i := range 3 {
		if !echo(t, d, fmt.Sprintf("msi-x %d", i), false) {
			return
		}
		waitIRQ(t, d, "pci")
	}
	if sent.Load() < 3 {
		t.Fatalf("%d messages sent for 3 used buffers", sent.Load())
	}
	if n := whileLocked.Load(); n != 0 {
		t.Errorf("%d of %d messages were sent with the transport's lock held", n, sent.Load())
	}
}
