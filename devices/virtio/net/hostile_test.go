package net

import (
	"bytes"
	"errors"
	stdnet "net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// scriptedIO is a PacketIO whose reads follow a script, then wait for
// Interrupt; writes go nowhere.
type scriptedIO struct {
	mu     sync.Mutex
	script []func(buf []byte) (int, error)
	intr   chan struct{} // closed by Interrupt, replaced by Resume
}

var _ PacketIO = (*scriptedIO)(nil)

func newScriptedIO(script ...func(buf []byte) (int, error)) *scriptedIO {
	return &scriptedIO{script: script, intr: make(chan struct{})}
}

func (p *scriptedIO) ReadPacket(buf []byte) (int, error) {
	p.mu.Lock()
	intr := p.intr
	var next func([]byte) (int, error)
	if len(p.script) > 0 {
		next, p.script = p.script[0], p.script[1:]
	}
	p.mu.Unlock()
	if next != nil {
		return next(buf)
	}
	<-intr
	return 0, os.ErrDeadlineExceeded
}

func (p *scriptedIO) WritePacket(*virtio.IOVecs) error { return nil }
func (p *scriptedIO) SetOffload(uint) error            { return nil }
func (p *scriptedIO) SetHeaderSize(int) error          { return nil }
func (p *scriptedIO) Close() error                     { return nil }

func (p *scriptedIO) Interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.intr:
	default:
		close(p.intr)
	}
}

func (p *scriptedIO) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intr = make(chan struct{})
}

var testMAC = stdnet.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}

// TestNetRxReadLengthChecked: a backend read that claims more bytes than
// the buffer holds (or fewer than none) is dropped, never sliced; the
// next good frame is delivered.
func TestNetRxReadLengthChecked(t *testing.T) {
	good := append(netHdr(0, 0, 0, 0, 0, 0), frame(200)...)
	io := newScriptedIO(
		func(buf []byte) (int, error) { return len(buf) + 1, nil },
		func(buf []byte) (int, error) { return -5, nil },
		func(buf []byte) (int, error) { return copy(buf, good), nil },
	)
	n := New("test-net", io, testMAC, nil)
	d := virtiotest.New(t, virtio.Modern, n)
	t.Cleanup(func() { d.Close(); n.Close() })
	d.Setup(16, 0)
	bufs := postRX(d, 1, 2048)
	used := d.Wait(1)
	got := make([]byte, used[0].Len)
	d.Mem.Read(bufs[0], got)
	if !bytes.Equal(got[vnetHdrSize:], good[vnetHdrSize:]) {
		t.Errorf("the good frame after bad reads was not delivered")
	}
	if n.Stats.RxDropped.Load() != 2 || n.Stats.RxPackets.Load() != 1 {
		t.Errorf("dropped %d received %d, want 2 and 1", n.Stats.RxDropped.Load(), n.Stats.RxPackets.Load())
	}
	if d.NeedsReset() || len(d.Faults()) != 0 {
		t.Errorf("bad backend reads broke the device: %v", d.Faults())
	}
}

// TestNetRxPanicIsDeviceFault: a panic on the receive goroutine (a bug
// in the backend here) fails the device and is reported to the machine,
// rather than ending gokvm; a reset brings the device back.
func TestNetRxPanicIsDeviceFault(t *testing.T) {
	io := newScriptedIO(func([]byte) (int, error) { panic("backend bug") })
	n := New("test-net", io, testMAC, nil)
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-net0", virtio.Modern, n), nil)
	d.Setup(16, 0)
	d.WaitNeedsReset()
	var pe *virtio.PanicError
	if f := d.Faults(); len(f) != 1 || !errors.As(f[0], &pe) || pe.Where != "receive queue" {
		t.Fatalf("faults %v, want the receive queue's panic", f)
	}
	if !strings.Contains(d.Log(), "receive queue: panic: backend bug") {
		t.Errorf("logged %q", d.Log())
	}
	if !virtiotest.ReturnsWithin(time.Second, d.Pause) {
		t.Fatal("Pause waits for the goroutine that panicked")
	}
	d.Resume()
	d.Setup(16, 0)
	d.SelectQueue(netTX)
	out := append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
	d.Kick()
	d.Wait(1)
}

// TestNetConcurrentResetsAndClose: Reset and Close from any number of
// goroutines at once, against each other and the transport's resets and
// Close, neither panic nor hang.
func TestNetConcurrentResetsAndClose(t *testing.T) {
	n, _ := newSocketNet(t)
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-net0", virtio.Modern, n), nil)
	run := func(fns ...func()) {
		t.Helper()
		virtiotest.Concurrently(t, 5*time.Second, fns...)
	}
	resetReg := func() { d.Write32(virtio.RegStatus, 0) }
	for range 10 {
		d.Setup(16, 0)
		postRX(d, 2, 2048)
		d.SelectQueue(netTX)
		out := append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...)
		d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
		d.Kick()
		run(n.Reset, n.Reset, n.Reset, resetReg, resetReg, resetReg)
		d.FreeBufs()
	}
	d.Setup(16, 0)
	closeDev := func() { n.Close() }
	closeSpec := func() { d.Close() }
	run(closeDev, closeDev, closeSpec, closeSpec, n.Reset, resetReg, resetReg)
	if err := n.io.(*fileIO).f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close left the PacketIO open (closing it again: %v)", err)
	}
}
