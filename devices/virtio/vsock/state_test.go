package vsock

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// fakeVsock is a vsock device of cid over k, closed at the test's end.
func fakeVsock(t *testing.T, k *vhost.FakeKernel, cid uint64) *Vsock {
	t.Helper()
	v, err := newOn("test-vsock", cid, k.Dev(VhostVsockDevice), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// postEvents offers n event buffers, as Linux's driver keeps them,
// filled with 0xff so that a written event shows.
func postEvents(d *virtiotest.Driver, n int) []uint64 {
	d.SelectQueue(queueEvent)
	var gpas []uint64
	for range n {
		g := d.Buf([]byte{0xff, 0xff, 0xff, 0xff}, 0)
		gpas = append(gpas, g)
		d.Submit([]virtiotest.Seg{{GPA: g, N: eventSize, Writable: true}}, false)
	}
	d.Kick()
	return gpas
}

// TestVsockStateRestore: a vsock device saved while paused holds where
// vhost-vsock was in rx and tx, and its CID; restored with a new kernel
// device of the same CID, the kernel goes on from there, running, and the
// guest gets one transport reset event (its connections are gone) with an
// interrupt. A driver setting the device up anew afterwards gets none;
// another CID is refused, naming both.
func TestVsockStateRestore(t *testing.T) {
	k := vhost.NewFakeKernel(kernel61)
	v := fakeVsock(t, k, 42)
	d := virtiotest.New(t, virtio.Modern, v)
	d.Setup(16, 0)
	events := postEvents(d, 2)
	k.Advance(queueTX, 3)
	d.Pause()
	st := d.MustSave()
	var s virtio.State
	if err := json.Unmarshal(st, &s); err != nil {
		t.Fatal(err)
	}
	if r := s.Queues[queueTX].Ring; r == nil || r.NextAvail != 3 {
		t.Errorf("tx saved at %+v, want the kernel's 3", r)
	}
	if string(s.Device) != `{"CID":42}` {
		t.Errorf("device state %s", s.Device)
	}
	if d.UsedIdx() != 0 {
		t.Fatal("the saved device used an event buffer")
	}
	d.Close()
	v.Close()

	if _, err := d.Restore(virtio.Modern, fakeVsock(t, vhost.NewFakeKernel(kernel61), 43), st); err == nil || !strings.Contains(err.Error(), "CID is 43, the saved guest's was 42") {
		t.Errorf("a restore onto another CID: %v", err)
	}
	k2 := vhost.NewFakeKernel(kernel61)
	n, err := d.Restore(virtio.Modern, fakeVsock(t, k2, 42), st)
	if err != nil {
		t.Fatalf("restoring: %v", err)
	}
	if k2.Base(queueTX) != 3 {
		t.Errorf("the restored kernel's tx starts at %d, want 3", k2.Base(queueTX))
	}
	calls := k2.Calls()
	if last := calls[len(calls)-1]; last.Name != "VHOST_VSOCK_SET_RUNNING" || last.Num != 1 {
		t.Errorf("the restored kernel's last request %+v, want it set running", last)
	}
	n.SelectQueue(queueEvent)
	used := n.Wait(1)
	b := make([]byte, 4)
	n.Mem.Read(events[0], b)
	if used[0].Len != eventSize || binary.LittleEndian.Uint32(b) != eventTransportReset {
		t.Errorf("event %x of %d bytes, want a transport reset of 4", b, used[0].Len)
	}
	select {
	case <-n.IRQs:
	case <-time.After(5 * time.Second):
		t.Error("no interrupt for the event")
	}
	time.Sleep(20 * time.Millisecond)
	if n.UsedIdx() != 1 {
		t.Errorf("%d events sent, want 1", n.UsedIdx())
	}

	n.Write32(virtio.RegStatus, 0)
	n.Setup(16, 0)
	postEvents(n, 2)
	time.Sleep(20 * time.Millisecond)
	if n.UsedIdx() != 0 {
		t.Error("a driver's own set-up got a transport reset event")
	}
}

// TestVsockDeviceState: the device's own state is checked as strictly as
// the transport's.
func TestVsockDeviceState(t *testing.T) {
	v := detached(t, 7)
	st, err := v.SaveDeviceState()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RestoreDeviceState(st); err != nil {
		t.Errorf("its own state refused: %v", err)
	}
	for _, bad := range []string{"", `{"CID":7,"Port":1}`, `{"CID":8}`, `{"CID":7} {}`, `{"CID":-1}`} {
		if err := v.RestoreDeviceState([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
}
