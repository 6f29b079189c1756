package vhost

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// tapLike attaches a pretend tap to both rings, as vhost-net's backend
// does (the FakeKernel then has a backend on each).
type tapLike struct{}

func (tapLike) Attach(d *Dev) error { return tapLike{}.set(d, 99) }
func (tapLike) Detach(d *Dev) error { return tapLike{}.set(d, -1) }
func (tapLike) set(d *Dev, fd int) error {
	for _, ring := range []uint32{0, 1} {
		if err := d.NetSetBackend(ring, fd); err != nil {
			return err
		}
	}
	return nil
}

// savingDevice is a ringsDevice of 16-entry queues that can be saved, as
// vhost-net and vhost-vsock are.
type savingDevice struct{ *maxed }

func (s savingDevice) RingStates() (map[int]virtio.RingState, error) { return s.rings.RingStates() }
func (s savingDevice) SaveDeviceState() ([]byte, error)              { return []byte("{}"), nil }
func (s savingDevice) RestoreDeviceState([]byte) error               { return nil }

var _ virtio.KernelRings = savingDevice{}

func newSavingDevice(t *testing.T, k *FakeKernel) savingDevice {
	t.Helper()
	r, err := NewRings("test", k.Dev("/dev/vhost-test"), []int{0, 1}, tapLike{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return savingDevice{withMax(&ringsDevice{rings: r, n: 2}, 16)}
}

// index is the position of the first call after from that matches, or -1.
func index(calls []Call, from int, name string, ring uint32, match func(Call) bool) int {
	for i := from; i < len(calls); i++ {
		c := calls[i]
		if c.Name == name && c.Index == ring && (match == nil || match(c)) {
			return i
		}
	}
	return -1
}

func detachOf(c Call) bool { return c.FD == -1 }
func attachOf(c Call) bool { return c.FD >= 0 }

// TestRingsSaveRestore: a saved vhost device's ring places are the
// kernel's, read once its backend is detached (the machine paused); a
// restored device gives them back to a new kernel device before its
// backend is attached, and interrupts once for what the saved kernel may
// have owed the driver.
func TestRingsSaveRestore(t *testing.T) {
	k := NewFakeKernel(1 << virtio.FeatureVersion1)
	d := virtiotest.New(t, virtio.Modern, newSavingDevice(t, k))
	d.Setup(16, 0)
	calls := k.Calls()
	for ring := uint32(0); ring < 2; ring++ {
		if index(calls, 0, "VHOST_SET_VRING_BASE", ring, func(c Call) bool { return c.Num == 0 }) < 0 {
			t.Errorf("a driver's set-up: ring %d not started at 0 (%v)", ring, calls)
		}
	}
	// The kernel took 5 transmit chains and used 3; the driver's used
	// index in RAM says so.
	k.Advance(1, 5)
	if err := d.Mem.StoreU16(virtiotest.RAMBase+0x10000+0x8000+2, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Save(); err == nil {
		t.Error("a running vhost device saved")
	}
	d.Pause()
	st := d.MustSave()
	calls = k.Calls()
	paused := index(calls, len(calls)-4, "VHOST_NET_SET_BACKEND", 1, detachOf)
	if paused < 0 || index(calls, paused, "VHOST_GET_VRING_BASE", 1, nil) < 0 {
		t.Errorf("the ring positions were not read after the backend was detached: %v", calls[len(calls)-4:])
	}
	var s virtio.State
	if err := json.Unmarshal(st, &s); err != nil {
		t.Fatal(err)
	}
	if r := s.Queues[1].Ring; r == nil || *r != (virtio.RingState{NextAvail: 5, UsedIdx: 3, UsedAdded: 3, UsedSignalled: 3}) {
		t.Errorf("transmit ring saved at %+v, want the kernel's 5 and RAM's 3", r)
	}
	if r := s.Queues[0].Ring; r == nil || *r != (virtio.RingState{}) {
		t.Errorf("receive ring saved at %+v, want its start", r)
	}
	// The saved machine goes on: its kernel's place is unchanged.
	before := len(k.Calls())
	d.Resume()
	if i := index(k.Calls(), before, "VHOST_SET_VRING_BASE", 1, nil); i >= 0 || k.Base(1) != 5 {
		t.Errorf("resuming moved the kernel's ring (base %d)", k.Base(1))
	}
	d.Close()

	k2 := NewFakeKernel(1 << virtio.FeatureVersion1)
	n, err := d.Restore(virtio.Modern, newSavingDevice(t, k2), st)
	if err != nil {
		t.Fatalf("restoring: %v", err)
	}
	calls = k2.Calls()
	set := index(calls, 0, "VHOST_SET_VRING_BASE", 1, func(c Call) bool { return c.Num == 5 })
	attach := index(calls, 0, "VHOST_NET_SET_BACKEND", 1, attachOf)
	if set < 0 || attach < set || index(calls, 0, "VHOST_SET_VRING_BASE", 0, func(c Call) bool { return c.Num == 0 }) < 0 {
		t.Errorf("the restored kernel: base set at %d, backend attached at %d: %v", set, attach, calls)
	}
	select {
	case <-n.IRQs:
	case <-time.After(5 * time.Second):
		t.Error("no interrupt from the restored device")
	}
	// Saved again, it is where the new kernel is.
	k2.Advance(1, 2)
	n.Pause()
	var s2 virtio.State
	json.Unmarshal(n.MustSave(), &s2)
	if r := s2.Queues[1].Ring; r == nil || r.NextAvail != 7 {
		t.Errorf("saved again at %+v, want the new kernel's 7", r)
	}
	n.Resume()
}

// TestRingsSaveKernelErrors: a kernel that cannot say where it is fails
// the save, naming the request; a restore the kernel refuses fails.
func TestRingsSaveKernelErrors(t *testing.T) {
	k := NewFakeKernel(1 << virtio.FeatureVersion1)
	d := virtiotest.New(t, virtio.Modern, newSavingDevice(t, k))
	d.Setup(16, 0)
	d.Pause()
	k.Fail("VHOST_GET_VRING_BASE", unix.EIO)
	if _, err := d.Save(); err == nil || !strings.Contains(err.Error(), "VHOST_GET_VRING_BASE") {
		t.Errorf("save with GET_VRING_BASE failing: %v", err)
	}
	k.Fail("VHOST_GET_VRING_BASE", nil)
	k.Advance(0, 40) // past the 16 entries: no device is there
	if _, err := d.Save(); err == nil || !strings.Contains(err.Error(), "not one a device reaches") {
		t.Errorf("save with the kernel past the ring: %v", err)
	}
	k.Advance(0, 65536-40)
	st := d.MustSave()
	d.Resume()
	d.Close()
	k2 := NewFakeKernel(1 << virtio.FeatureVersion1)
	k2.Fail("VHOST_SET_VRING_BASE", unix.EBUSY)
	if _, err := d.Restore(virtio.Modern, newSavingDevice(t, k2), st); err == nil || !strings.Contains(err.Error(), "VHOST_SET_VRING_BASE") {
		t.Errorf("restore with SET_VRING_BASE refused: %v", err)
	}
}

// TestFakeKernelBusy: the fake refuses a base while a backend runs, as
// the kernel does, so a Rings that set one then would fail here too.
func TestFakeKernelBusy(t *testing.T) {
	k := NewFakeKernel(0)
	dev := k.Dev("/dev/vhost-test")
	if err := dev.NetSetBackend(0, 5); err != nil {
		t.Fatal(err)
	}
	if err := dev.SetVringBase(0, 3); err == nil {
		t.Error("a base set with a backend attached")
	}
	dev.NetSetBackend(0, -1)
	if err := dev.SetVringBase(0, 3); err != nil || k.Base(0) != 3 {
		t.Errorf("base %d, %v", k.Base(0), err)
	}
	if b, err := dev.GetVringBase(0); err != nil || b != 3 {
		t.Errorf("GET_VRING_BASE %d, %v", b, err)
	}
}
