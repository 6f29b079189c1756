package virtio_test

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// note is a vmm.Notification the test signals by hand.
type note struct {
	c      chan struct{}
	closed chan struct{}
	once   sync.Once
}

var _ vmm.Notification = (*note)(nil)

func newNote() *note { return &note{c: make(chan struct{}, 1), closed: make(chan struct{})} }

func (n *note) Wait() error {
	select {
	case <-n.c:
		return nil
	case <-n.closed:
		return errors.New("closed")
	}
}

func (n *note) Signal() error {
	select {
	case <-n.closed:
		return errors.New("closed")
	default:
	}
	select {
	case n.c <- struct{}{}:
	default:
	}
	return nil
}

func (n *note) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

// TestSpecDevice: the device the machine creates from Spec takes queue
// notifications from the host's watches, pauses, and closes its watches
// and its device's backend.
func TestSpecDevice(t *testing.T) {
	e := &echoDevice{}
	var notes []*note
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-echo", virtio.Modern, e), func(off uint64, v uint32) (vmm.Notification, error) {
		if off != virtio.RegQueueNotify || v != uint32(len(notes)) {
			t.Errorf("watch of %#x = %d, want QueueNotify = %d", off, v, len(notes))
		}
		n := newNote()
		notes = append(notes, n)
		return n, nil
	})
	if len(notes) != 1 {
		t.Fatalf("%d notifications watched, want one per queue", len(notes))
	}
	if _, ok := d.Dev.(vmm.Pauser); !ok {
		t.Errorf("%T is not a vmm.Pauser", d.Dev)
	}
	if _, ok := d.Dev.(io.Closer); !ok {
		t.Fatalf("%T is not an io.Closer", d.Dev)
	}
	d.Setup(16, 0)
	// A notification through the watch, not the register, is a kick.
	out := submitEcho(d, "watched", false)
	notes[0].c <- struct{}{}
	checkEcho(t, d, out, "watched")
	// One through the register all the same reaches the goroutine
	// waiting on the watch.
	echo(t, d, "by register", false)

	drainIRQs(d)
	d.Pause()
	out = submitEcho(d, "paused", false)
	notes[0].c <- struct{}{}
	quiet(t, d, "paused")
	d.Resume()
	checkEcho(t, d, out, "paused")

	if !virtiotest.ReturnsWithin(time.Second, func() { d.Close() }) {
		t.Fatal("Close does not return")
	}
	if !e.closed.Load() {
		t.Errorf("Close left the device's backend open")
	}
	select {
	case <-notes[0].closed:
	default:
		t.Errorf("Close left the notification open")
	}
}

// TestSpecEventFDResets: with real eventfds, as the machine makes them,
// the goroutine serving a queue waits on the queue's eventfd itself;
// a reset, a new activation and Close each stop it promptly while it
// waits, and the next activation serves the guest's notifications again.
func TestSpecEventFDResets(t *testing.T) {
	e := &echoDevice{}
	var efds []*kvm.EventFD
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-echo", virtio.Modern, e), func(uint64, uint32) (vmm.Notification, error) {
		efd, err := kvm.NewEventFD()
		if err == nil {
			efds = append(efds, efd)
		}
		return efd, err
	})
	for round := 0; round < 3; round++ {
		// Setup resets the device first: the last round's goroutine
		// is waiting on the eventfd.
		if !virtiotest.ReturnsWithin(time.Second, func() { d.Setup(16, 0) }) {
			t.Fatalf("round %d: the reset does not return", round)
		}
		out := submitEcho(d, "signalled", false)
		if err := efds[0].Signal(); err != nil { // the guest's write, as KVM signals it
			t.Fatal(err)
		}
		checkEcho(t, d, out, "signalled")
		echo(t, d, "by register", false)
	}
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Close() }) {
		t.Fatal("Close does not return")
	}
}

// TestSpecWithoutWatches: where the host cannot watch writes, notifies
// arrive as MMIO writes.
func TestSpecWithoutWatches(t *testing.T) {
	e := &echoDevice{}
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-echo", virtio.Legacy, e), nil)
	d.Setup(16, 0)
	echo(t, d, "by register", false)
	d.Close()
	if !e.closed.Load() {
		t.Errorf("Close left the device's backend open")
	}
}

// TestSpecWatchFails: a watch that fails for another reason fails the
// device's creation, and what was made is closed.
func TestSpecWatchFails(t *testing.T) {
	e := &echoDevice{}
	spec := virtio.Spec("virtio-echo", virtio.Modern, e)
	boom := errors.New("boom")
	_, err := spec.New(vmm.DeviceEnv{
		Mem:        virtiotest.New(t, virtio.Modern, &echoDevice{}).Mem,
		Pulse:      func() {},
		WatchWrite: func(uint64, uint32) (vmm.Notification, error) { return nil, boom },
	})
	if !errors.Is(err, boom) {
		t.Errorf("creation with a failing watch: %v, want it wrapping %v", err, boom)
	}
	if !e.closed.Load() {
		t.Errorf("a failed creation left the device open")
	}
}

type fakeTree struct {
	prefix  string
	p       vmm.Placement
	trigger vmm.Trigger
	node    fakeNode
	// pciFuncs are the PCI functions described.
	pciFuncs []vmm.Placement
}

type fakeNode struct {
	strings map[string][]string
	flags   map[string]bool
}

func (f *fakeTree) AddDevice(prefix string, p vmm.Placement, trigger vmm.Trigger) vmm.DeviceNode {
	f.prefix, f.p, f.trigger = prefix, p, trigger
	f.node = fakeNode{strings: map[string][]string{}, flags: map[string]bool{}}
	return &f.node
}
func (f *fakeTree) SetStdout(vmm.DeviceNode)              {}
func (n *fakeNode) Strings(name string, values ...string) { n.strings[name] = values }
func (n *fakeNode) U32(string, uint32)                    {}
func (n *fakeNode) U32s(string, ...uint32)                {}
func (f *fakeTree) FixedClock(string, uint32) uint32      { return 0 }
func (f *fakeTree) PCIHost(vmm.Placement)                 {}
func (f *fakeTree) PCIFunction(p vmm.Placement)           { f.pciFuncs = append(f.pciFuncs, p) }
func (n *fakeNode) Flag(name string)                      { n.flags[name] = true }

func TestDescribe(t *testing.T) {
	var dt fakeTree
	p := vmm.Placement{Base: 0x0300_0000, Size: virtio.MMIOSize, IRQ: 3}
	virtio.Describe(&dt, p)
	if dt.prefix != "virtio" || dt.p != p || dt.trigger != vmm.TriggerEdge {
		t.Errorf("node %s at %+v trigger %v", dt.prefix, dt.p, dt.trigger)
	}
	if c := dt.node.strings["compatible"]; len(c) != 1 || c[0] != "virtio,mmio" || !dt.node.flags["dma-coherent"] {
		t.Errorf("compatible %q, dma-coherent %v", c, dt.node.flags["dma-coherent"])
	}
}
