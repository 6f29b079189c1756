package net

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// tagged is a frame with a zero virtio-net header whose body of size
// bytes starts with tag.
func tagged(tag byte, size int) []byte {
	b := append(make([]byte, vnetHdrSize), frame(size)...)
	b[vnetHdrSize] = tag
	return b
}

// received reads the frame the used elements us hold, chain after chain
// from the buffers at gpas.
func received(d *virtiotest.Driver, us []virtiotest.Used, gpas []uint64) []byte {
	var got []byte
	for i, u := range us {
		b := make([]byte, u.Len)
		d.Mem.Read(gpas[i], b)
		got = append(got, b...)
	}
	return got
}

// sameFrame reports whether got is want as the guest receives it: the
// header but num_buffers, and the body.
func sameFrame(got, want []byte) bool {
	return len(got) == len(want) && bytes.Equal(got[:10], want[:10]) && bytes.Equal(got[vnetHdrSize:], want[vnetHdrSize:])
}

// savedNet is the device's own part of a saved transport state.
func savedNet(t *testing.T, st []byte) (virtio.State, State) {
	t.Helper()
	var s virtio.State
	if err := json.Unmarshal(st, &s); err != nil {
		t.Fatal(err)
	}
	var ns State
	if err := json.Unmarshal(s.Device, &ns); err != nil {
		t.Fatalf("the device's state %s: %v", s.Device, err)
	}
	return s, ns
}

// restoreNet saves d (paused) and restores it onto a fresh device over a
// fresh fakeIO (the tap opened again), after closing d's.
func restoreNet(t *testing.T, d *virtiotest.Driver, old *Net) (*virtiotest.Driver, *Net, *fakeIO, []byte) {
	t.Helper()
	st := d.MustSave()
	d.Close()
	old.Close()
	n, io := newFakeNet(t)
	nd, err := d.Restore(virtio.Modern, n, st)
	if err != nil {
		t.Fatalf("restoring: %v", err)
	}
	return nd, n, io, st
}

// TestNetStateFramesInFlight: a frame the device read while paused is in
// the saved state, not in the rings, and the restored device delivers it
// first and once; a frame the guest sent while paused is sent by the
// restored device only, and one sent before the save is not sent again.
// The restored backend gets the negotiated header size and offloads.
func TestNetStateFramesInFlight(t *testing.T) {
	n, io := newFakeNet(t)
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	rx := postRX(d, 3, 2000)
	a, b, c := tagged(1, 300), tagged(2, 400), tagged(3, 500)
	io.In <- a
	if got := received(d, d.Wait(1), rx); !sameFrame(got, a) {
		t.Fatal("the first frame does not arrive")
	}
	d.SelectQueue(netTX)
	sent := tagged(10, 100)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(sent, 0), N: uint32(len(sent))}}, false)
	d.Kick()
	d.Wait(1)

	d.Pause()
	io.In <- b
	waitHeld(t, n) // the device holds b, at the gate
	paused := tagged(11, 200)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(paused, 0), N: uint32(len(paused))}}, false)
	d.Kick()
	time.Sleep(20 * time.Millisecond)
	d.SelectQueue(netRX)
	if d.UsedIdx() != 1 {
		t.Fatalf("the paused device received (used index %d)", d.UsedIdx())
	}
	nd, _, io2, st := restoreNet(t, d, n)
	s, ns := savedNet(t, st)
	if !sameFrame(ns.Frame, b) || ns.HeaderLen != vnetHdrSize || ns.MAC != "52:54:00:09:08:07" || ns.Backend != backendTap {
		t.Errorf("saved device state %+v, want the held frame b", ns)
	}
	if r := s.Queues[netRX].Ring; r == nil || r.NextAvail != 1 || r.UsedAdded != 1 {
		t.Errorf("saved receive ring %+v: want one chain taken and used", r)
	}
	if got := received(nd, nd.Wait(1), rx[1:]); !sameFrame(got, b) {
		t.Error("the held frame is not the restored device's first")
	}
	io2.In <- c
	if got := received(nd, nd.Wait(1), rx[2:]); !sameFrame(got, c) {
		t.Error("the next frame after the held one is not the backend's next")
	}
	if io2.reads.Load() != 1 {
		t.Errorf("the restored device read %d frames, want 1 (the held one is not read again)", io2.reads.Load())
	}
	nd.SelectQueue(netTX)
	nd.Wait(1)
	time.Sleep(20 * time.Millisecond)
	if got := io.Sent(); len(got) != 1 || !bytes.Equal(got[0], sent) {
		t.Errorf("the saved device sent %d frames, want the first only", len(got))
	}
	if got := io2.Sent(); len(got) != 1 || !bytes.Equal(got[0], paused) {
		t.Errorf("the restored device sent %d frames, want the one made while paused, once", len(got))
	}
	hdrs, offloads := io2.setup()
	if len(hdrs) != 1 || hdrs[0] != vnetHdrSize || len(offloads) != 1 || offloads[0] != OffloadFlags(s.DriverFeatures) || offloads[0] == 0 {
		t.Errorf("the restored backend was set up with headers %v, offloads %v; want [%d] and [%#x]", hdrs, offloads, vnetHdrSize, OffloadFlags(s.DriverFeatures))
	}
}

// TestNetMergeableWaitsWhole: a mergeable frame that needs more chains
// than the driver offers takes none of them while the device waits: the
// driver sees nothing used, the device asks for a kick past the chains
// already there, and once more come the frame arrives whole.
func TestNetMergeableWaitsWhole(t *testing.T) {
	n, io := newFakeNet(t)
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	rx := postRX(d, 2, 1500)
	f := tagged(7, 4000) // three chains of 1500
	io.In <- f
	waitAvailEvent(t, d, 2)
	if d.UsedIdx() != 0 || n.Stats.RxPackets.Load() != 0 {
		t.Fatalf("part of the frame was published: used index %d", d.UsedIdx())
	}
	rx = append(rx, postRX(d, 1, 1500)...)
	used := d.Wait(3)
	got := received(d, used, rx)
	if !sameFrame(got, f) || binary.LittleEndian.Uint16(got[10:]) != 3 {
		t.Errorf("the frame after more buffers came: same %v, num_buffers %d", sameFrame(got, f), binary.LittleEndian.Uint16(got[10:]))
	}
	for i, u := range used {
		if u.Head != uint32(i) {
			t.Errorf("used element %d is chain %d: the chains given back were not taken again in order", i, u.Head)
		}
	}
}

// waitAvailEvent waits until the device asks for a kick at idx on the
// receive queue: it waits for buffers, outside the gate.
func waitAvailEvent(t *testing.T, d *virtiotest.Driver, idx uint16) {
	t.Helper()
	d.SelectQueue(netRX)
	deadline := time.Now().Add(5 * time.Second)
	for d.AvailEvent() != idx {
		if time.Now().After(deadline) {
			t.Fatalf("the device asks for a kick at %d, want %d", d.AvailEvent(), idx)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNetStateMergeableShort: a machine saved while a mergeable frame
// waits for more receive chains than the driver offered has none of it in
// its rings (no chain taken, no used element added) and all of it in the
// device's state; the restored device delivers it whole once the driver
// offers enough.
func TestNetStateMergeableShort(t *testing.T) {
	n, io := newFakeNet(t)
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	rx := postRX(d, 2, 1500)
	f := tagged(9, 4000)
	io.In <- f
	waitAvailEvent(t, d, 2)
	if !virtiotest.ReturnsWithin(time.Second, d.Pause) {
		t.Fatal("Pause waits for the guest's receive buffers")
	}
	nd, _, io2, st := restoreNet(t, d, n)
	s, ns := savedNet(t, st)
	if r := s.Queues[netRX].Ring; r == nil || *r != (virtio.RingState{}) {
		t.Errorf("saved receive ring %+v: want nothing taken or added", r)
	}
	if !sameFrame(ns.Frame, f) {
		t.Errorf("saved frame of %d bytes, want the %d-byte frame", len(ns.Frame), len(f))
	}
	time.Sleep(20 * time.Millisecond)
	if nd.UsedIdx() != 0 {
		t.Fatalf("the restored device published part of the frame (used index %d)", nd.UsedIdx())
	}
	rx = append(rx, postRX(nd, 1, 1500)...)
	got := received(nd, nd.Wait(3), rx)
	if !sameFrame(got, f) || binary.LittleEndian.Uint16(got[10:]) != 3 {
		t.Error("the frame does not arrive whole after the restore")
	}
	if io2.reads.Load() != 0 {
		t.Errorf("the restored device read %d frames from its backend, want 0", io2.reads.Load())
	}
}

// TestNetFrameLargerThanRing: a mergeable frame the whole receive ring
// cannot hold is dropped, the chains given back, and the next frame uses
// them.
func TestNetFrameLargerThanRing(t *testing.T) {
	n, io := newFakeNet(t)
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	rx := postRX(d, 16, 128)
	io.In <- tagged(1, 4000)
	small := tagged(2, 100)
	io.In <- small
	used := d.Wait(1)
	if used[0].Head != 0 || !sameFrame(received(d, used, rx), small) {
		t.Errorf("the frame after the dropped one: used %v", used)
	}
	if n.Stats.RxDropped.Load() != 1 {
		t.Errorf("dropped %d, want 1", n.Stats.RxDropped.Load())
	}
}

// TestNetStateRacesPause: frames arriving and sent as the machine pauses
// are each delivered or sent exactly once, by the saved device or by the
// restored one, whatever the timing.
func TestNetStateRacesPause(t *testing.T) {
	n, io := newFakeNet(t)
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	var sent [][]byte // what each device sent in its life, added at its save
	for i := range 24 {
		d.SelectQueue(netRX)
		buf := postRX(d, 1, 2000)
		in := tagged(byte(i), 64+i)
		io.In <- in
		d.SelectQueue(netTX)
		out := tagged(byte(100+i), 64+i)
		d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
		d.Kick()
		time.Sleep(time.Duration(i%6) * 20 * time.Microsecond)
		d.Pause()
		waitHeldOrDelivered(t, d, n, uint16(i+1))
		sent = append(sent, io.Sent()...)
		nd, nn, nio, _ := restoreNet(t, d, n)
		nd.SelectQueue(netRX)
		if got := received(nd, nd.Wait(1), buf); !sameFrame(got, in) {
			t.Fatalf("round %d: the frame received is not the one sent", i)
		}
		nd.SelectQueue(netTX)
		nd.Wait(1) // sent by the saved device or by this one
		d, n, io = nd, nn, nio
	}
	d.Pause()
	sent = append(sent, io.Sent()...)
	seen := map[string]int{}
	for _, s := range sent {
		seen[string(s)]++
	}
	for i := range 24 {
		if c := seen[string(tagged(byte(100+i), 64+i))]; c != 1 {
			t.Errorf("frame %d sent %d times", i, c)
		}
	}
}

// waitHeldOrDelivered waits until the paused device either delivered the
// frame that makes the receive queue's used index used, or holds it at
// the gate. (Read from the backend is not enough: a frame the device
// read but did not yet hold when the machine was saved is one that came
// after the save.)
func waitHeldOrDelivered(t *testing.T, d *virtiotest.Driver, n *Net, used uint16) {
	t.Helper()
	d.SelectQueue(netRX)
	deadline := time.Now().Add(5 * time.Second)
	for d.UsedIdx() != used && n.frames.heldCopy() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the device neither delivered nor holds the frame")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitHeld waits until the device holds a frame it read.
func waitHeld(t *testing.T, n *Net) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.frames.heldCopy() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the device holds no frame")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNetRestoredFrameOnlyOnRestore: a held frame goes to the activation
// that restores the device, not to a driver setting it up anew (which may
// have negotiated another header).
func TestNetRestoredFrameOnlyOnRestore(t *testing.T) {
	n, io := newFakeNet(t)
	held := tagged(1, 300)
	st, _ := json.Marshal(State{MAC: "52:54:00:09:08:07", Backend: backendTap, Frame: held, HeaderLen: vnetHdrSize})
	if err := n.RestoreDeviceState(st); err != nil {
		t.Fatal(err)
	}
	d := virtiotest.New(t, virtio.Modern, n)
	d.Setup(16, 0)
	rx := postRX(d, 1, 2000)
	next := tagged(2, 300)
	io.In <- next
	if got := received(d, d.Wait(1), rx); !sameFrame(got, next) {
		t.Error("the held frame went to a driver's own set-up")
	}
}

// TestNetDeviceState: the device's own state is checked as strictly as
// the transport's; a refused one leaves nothing behind.
func TestNetDeviceState(t *testing.T) {
	n, _ := newFakeNet(t)
	st, err := n.SaveDeviceState()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.RestoreDeviceState(st); err != nil {
		t.Errorf("its own state refused: %v", err)
	}
	long := base64(make([]byte, maxFrame+vnetHdrSize+1))
	for _, tc := range []struct{ state, says string }{
		{"", "EOF"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap","More":1}`, "unknown field"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap"} {}`, "after its end"},
		{`{"MAC":"52:54:00:01:02:03","Backend":"tap"}`, "52:54:00:09:08:07, the saved guest's was 52:54:00:01:02:03"},
		{`{"MAC":"nonsense","Backend":"tap"}`, "not one"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"user"}`, "backend is tap, the saved guest's was user"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap","HeaderLen":12}`, "without a frame"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap","Frame":"AAAAAAAAAAAAAAAA","HeaderLen":11}`, "header of 11"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap","Frame":"AAAA","HeaderLen":12}`, "3 bytes"},
		{`{"MAC":"52:54:00:09:08:07","Backend":"tap","Frame":"` + long + `","HeaderLen":12}`, "bytes"},
	} {
		err := n.RestoreDeviceState([]byte(tc.state))
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("state %.60q: %v, want it to say %q", tc.state, err, tc.says)
		}
	}
	if n.frames.restored != nil {
		t.Error("a refused state left a frame")
	}
}

func base64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

// TestHeldFrameHeaderChecked: a restored frame read with another header
// length than the restored activation's is dropped, and said so, rather
// than given the guest with a header it does not expect.
func TestHeldFrameHeaderChecked(t *testing.T) {
	var h heldFrames
	var logged []string
	logOnce := func(kind, format string, args ...any) { logged = append(logged, kind) }
	h.setRestored(tagged(1, 50), vnetHdrSize)
	if f := h.takeRestored(true, 10, logOnce); f != nil || len(logged) != 1 {
		t.Errorf("a 12-byte-header frame for a 10-byte-header driver: %d bytes given, %v logged", len(f), logged)
	}
	if f := h.takeRestored(true, vnetHdrSize, logOnce); f != nil {
		t.Error("a frame taken twice")
	}
	h.setRestored(tagged(2, 50), vnetHdrSize)
	if f := h.takeRestored(true, vnetHdrSize, logOnce); !bytes.Equal(f, tagged(2, 50)) {
		t.Error("the restored frame not given")
	}
}
