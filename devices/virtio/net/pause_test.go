package net

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// nothingFrom checks that the backend got no frame.
func nothingFrom(t *testing.T, peer int, what string) {
	t.Helper()
	if _, err := unix.Read(peer, make([]byte, 1<<17)); err != unix.EAGAIN {
		t.Errorf("%s: the backend got a frame, or %v", what, err)
	}
}

// TestNetPauseHoldsTransmit: a frame the guest transmits while the device
// is paused goes out only after Resume.
func TestNetPauseHoldsTransmit(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	d.Pause()
	d.SelectQueue(netTX)
	out := append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
	d.Kick()
	time.Sleep(50 * time.Millisecond)
	nothingFrom(t, peer, "paused")
	if d.UsedIdx() != 0 || n.Stats.TxPackets.Load() != 0 {
		t.Errorf("a paused device transmitted")
	}
	d.Resume()
	if got := recvNet(t, peer); !bytes.Equal(got, out) {
		t.Errorf("the frame after Resume: %d bytes, want %d", len(got), len(out))
	}
	d.Wait(1)
}

// TestNetPauseHoldsReceive: a frame arriving while the device is paused
// reaches guest memory only after Resume.
func TestNetPauseHoldsReceive(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	bufs := postRX(d, 2, 2000)
	d.Pause()
	in := append(netHdr(0, 0, 0, 0, 0, 0), frame(300)...)
	if _, err := unix.Write(peer, in); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if d.UsedIdx() != 0 || n.Stats.RxPackets.Load() != 0 {
		t.Errorf("a paused device received")
	}
	if got := make([]byte, len(in)); d.Mem.Read(bufs[0], got) != nil || !bytes.Equal(got, make([]byte, len(in))) {
		t.Errorf("a paused device wrote a receive buffer")
	}
	d.Resume()
	used := d.Wait(1)
	got := make([]byte, used[0].Len)
	d.Mem.Read(bufs[0], got)
	if !bytes.Equal(got[vnetHdrSize:], in[vnetHdrSize:]) {
		t.Errorf("the frame after Resume does not match")
	}
}

// TestNetPauseWhileWaitingForBuffers: a device holding a frame while it
// waits for the guest's receive buffers pauses at once, and buffers the
// guest offered meanwhile are filled only after Resume.
func TestNetPauseWhileWaitingForBuffers(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	in := append(netHdr(0, 0, 0, 0, 0, 0), frame(300)...)
	if _, err := unix.Write(peer, in); err != nil {
		t.Fatal(err)
	}
	waitTaken(t, n) // the device holds the frame, waiting for buffers
	if !virtiotest.ReturnsWithin(time.Second, d.Pause) {
		t.Fatal("Pause waits for the guest's receive buffers")
	}
	bufs := postRX(d, 1, 2000)
	time.Sleep(50 * time.Millisecond)
	if d.UsedIdx() != 0 || n.Stats.RxPackets.Load() != 0 {
		t.Errorf("a paused device received")
	}
	d.Resume()
	used := d.Wait(1)
	got := make([]byte, used[0].Len)
	d.Mem.Read(bufs[0], got)
	if !bytes.Equal(got[vnetHdrSize:], in[vnetHdrSize:]) {
		t.Errorf("the frame after Resume does not match")
	}
}

// waitTaken waits until the device read everything the backend had.
func waitTaken(t *testing.T, n *Net) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var queued int
		var err error
		n.io.(*fileIO).rc.Control(func(fd uintptr) { queued, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device did not read the backend (%d bytes queued)", queued)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNetCloseWhilePaused: the machine's Close of a paused device, with a
// frame to receive and one to transmit, returns promptly and closes the
// PacketIO.
func TestNetCloseWhilePaused(t *testing.T) {
	n, peer := newSocketNet(t)
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-net0", virtio.Modern, n), nil)
	d.Setup(16, 0)
	postRX(d, 1, 2000)
	d.Pause()
	unix.Write(peer, append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...))
	d.SelectQueue(netTX)
	out := append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
	d.Kick()
	time.Sleep(20 * time.Millisecond)
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Close() }) {
		t.Fatal("Close of a paused device does not return")
	}
	nothingFrom(t, peer, "closed while paused")
	if err := n.io.(*fileIO).f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close left the PacketIO open (closing it again: %v)", err)
	}
}

// TestNetCloseClosesPacketIO: Net owns its PacketIO; closing twice is
// harmless.
func TestNetCloseClosesPacketIO(t *testing.T) {
	n, _ := newSocketNet(t)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.io.(*fileIO).f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close left the PacketIO open (closing it again: %v)", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}
