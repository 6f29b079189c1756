package console

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// syncBuffer is an output the test reads while the device writes.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	delay time.Duration
	calls atomic.Int64
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.calls.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newConsole(t *testing.T, v virtio.TransportVersion) (*virtiotest.Driver, *Console, *syncBuffer) {
	out := &syncBuffer{}
	c := New(out, nil)
	t.Cleanup(func() { c.Close() })
	d := virtiotest.New(t, v, c)
	return d, c, out
}

func feed(t *testing.T, c *Console, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Pump(ctx, strings.NewReader(s)); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityAndConfig(t *testing.T) {
	d, _, _ := newConsole(t, virtio.Modern)
	if id := d.Read32(virtio.RegDeviceID); id != DeviceID {
		t.Errorf("device id %d", id)
	}
	if n := d.Read32(virtio.RegConfig + 4); n != 1 {
		t.Errorf("max_nr_ports %d", n)
	}
	d.Setup(16, 0)
	d.Write32(virtio.RegQueueSel, 2)
	if d.Read32(virtio.RegQueueNumMax) != 0 {
		t.Error("a third queue (multiport control) without MULTIPORT")
	}
}

func TestTransmit(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		d, _, out := newConsole(t, v)
		d.Setup(16, 0)
		d.SelectQueue(transmitq)
		a, b := []byte("hello "), []byte("hvc0\n")
		d.Submit([]virtiotest.Seg{{GPA: d.Buf(a, 0), N: uint32(len(a))}, {GPA: d.Buf(b, 0), N: uint32(len(b))}}, v == virtio.Modern)
		// A writable buffer in a transmit chain is not sent, nor written.
		junk := d.Buf([]byte("junk"), 0)
		d.Submit([]virtiotest.Seg{{GPA: junk, N: 4, Writable: true}}, false)
		d.Kick()
		for _, u := range d.Wait(2) {
			if u.Len != 0 {
				t.Errorf("transmit used %d bytes", u.Len)
			}
		}
		if got := out.String(); got != "hello hvc0\n" {
			t.Errorf("v%d: sent %q", v, got)
		}
	}
}

// Input that came before the driver waits for it; later input goes to
// buffers already offered.
func TestReceive(t *testing.T) {
	d, c, _ := newConsole(t, virtio.Modern)
	feed(t, c, "typed early\n")
	d.Setup(16, 0)
	d.SelectQueue(receiveq)
	buf := d.Buf(nil, 64)
	d.Submit([]virtiotest.Seg{{GPA: buf, N: 64, Writable: true}}, false)
	d.Kick()
	u := d.Wait(1)
	got := make([]byte, u[0].Len)
	d.Mem.Read(buf, got)
	if string(got) != "typed early\n" {
		t.Errorf("received %q", got)
	}
	// A buffer offered before the input comes.
	buf2 := d.Buf(nil, 4)
	d.Submit([]virtiotest.Seg{{GPA: buf2, N: 4, Writable: true}}, false)
	d.Kick()
	if _, ok := d.TryWait(1, 20*time.Millisecond); ok {
		t.Fatal("a buffer came back without input")
	}
	feed(t, c, "later")
	u = d.Wait(1)
	got = make([]byte, u[0].Len)
	d.Mem.Read(buf2, got)
	if string(got) != "late" {
		t.Errorf("received %q, want the first 4 bytes", got)
	}
	// The rest stays for the next buffer, through a reset.
	d.Setup(16, 0)
	d.FreeBufs()
	buf3 := d.Buf(nil, 16)
	d.Submit([]virtiotest.Seg{{GPA: buf3, N: 16, Writable: true}}, false)
	d.Kick()
	u = d.Wait(1)
	got = make([]byte, u[0].Len)
	d.Mem.Read(buf3, got)
	if string(got) != "r" {
		t.Errorf("after a reset received %q, want %q", got, "r")
	}
}

// A receive chain with nothing writable goes back empty and takes no
// input.
func TestReceiveNoWritable(t *testing.T) {
	d, c, _ := newConsole(t, virtio.Modern)
	feed(t, c, "x")
	d.Setup(16, 0)
	d.SelectQueue(receiveq)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf([]byte("ro"), 0), N: 2}}, false)
	buf := d.Buf(nil, 8)
	d.Submit([]virtiotest.Seg{{GPA: buf, N: 8, Writable: true}}, false)
	d.Kick()
	u := d.Wait(2)
	if u[0].Len != 0 || u[1].Len != 1 {
		t.Errorf("used %d and %d bytes, want 0 and 1", u[0].Len, u[1].Len)
	}
}

// countingReader gives endless input and counts what was read.
type countingReader struct{ n atomic.Int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	r.n.Add(int64(len(p)))
	return len(p), nil
}

// Endless input with no driver holds a bounded buffer: the pump waits.
func TestInputBounded(t *testing.T) {
	_, c, _ := newConsole(t, virtio.Modern)
	var r countingReader
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Pump(ctx, &r) }()
	time.Sleep(50 * time.Millisecond)
	if n := r.n.Load(); n > inputSize+512 {
		t.Errorf("read %d bytes of input with nowhere to put them", n)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("pump returned %v", err)
	}
}

func TestBadChainsNeedReset(t *testing.T) {
	for _, q := range []int{receiveq, transmitq} {
		for _, tc := range virtiotest.BadChains() {
			t.Run(tc.Name, func(t *testing.T) {
				d, c, out := newConsole(t, virtio.Modern)
				feed(t, c, "in")
				d.Setup(16, tc.Drop)
				d.SelectQueue(q)
				tc.Make(d)
				d.Kick()
				d.WaitNeedsReset()
				if out.String() != "" {
					t.Errorf("a bad chain was sent: %q", out.String())
				}
				d.Setup(16, tc.Drop)
				d.SelectQueue(transmitq)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf([]byte("ok"), 0), N: 2}}, false)
				d.Kick()
				d.Wait(1)
				if out.String() != "ok" {
					t.Errorf("after a reset sent %q", out.String())
				}
			})
		}
	}
}

// Resets from several vcpus and a close during a long slow write return
// promptly; the device then works after a fresh setup.
func TestResetDuringIO(t *testing.T) {
	out := &syncBuffer{delay: time.Millisecond}
	c := New(out, nil)
	d := virtiotest.New(t, virtio.Modern, c)
	d.Setup(16, 0)
	d.SelectQueue(transmitq)
	big := d.Buf(nil, 1<<20)
	for range 8 {
		d.Submit([]virtiotest.Seg{{GPA: big, N: 1 << 20}}, false)
	}
	d.Kick()
	for out.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	reset := func() { d.Write32(virtio.RegStatus, 0) }
	virtiotest.Concurrently(t, 2*time.Second, reset, reset, c.Reset, c.Reset)
	calls := out.calls.Load()
	if calls >= 8*(1<<20)/writeChunk {
		t.Errorf("the reset waited for every write (%d)", calls)
	}
	time.Sleep(20 * time.Millisecond)
	if out.calls.Load() != calls {
		t.Error("writes after the reset")
	}
	out.delay = 0
	d.Setup(16, 0)
	d.FreeBufs()
	d.SelectQueue(transmitq)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf([]byte("!"), 0), N: 1}}, false)
	d.Kick()
	d.Wait(1)
	virtiotest.Concurrently(t, 2*time.Second, func() { d.Close() }, func() { c.Close() }, reset)
	if err := c.Activate(virtio.ActivateEnv{Queues: []*virtio.Queue{{Ready: true}, {Ready: true}}}); err == nil {
		t.Error("a closed console activated")
	}
}

// Through the machine's spec: the input pump starts with the machine and
// feeds the guest's buffers; the transport pauses and closes.
func TestSpecPumpsInput(t *testing.T) {
	pr, pw := io.Pipe()
	out := &syncBuffer{}
	spec := Spec("virtio-console", virtio.MMIOSpecs(virtio.Modern), out, pr, nil)
	d := virtiotest.NewFromSpec(t, spec, nil)
	dev := d.Dev
	if _, ok := dev.(vmm.Pauser); !ok {
		t.Fatal("not a Pauser")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev.(vmm.Starter).Start(ctx)
	go pw.Write([]byte("from stdin\n"))
	d.Setup(16, 0)
	d.SelectQueue(receiveq)
	buf := d.Buf(nil, 64)
	d.Submit([]virtiotest.Seg{{GPA: buf, N: 64, Writable: true}}, false)
	d.Kick()
	u := d.Wait(1)
	got := make([]byte, u[0].Len)
	d.Mem.Read(buf, got)
	if string(got) != "from stdin\n" {
		t.Errorf("received %q", got)
	}
	d.Pause()
	d.Resume()
	pw.Close()
	if err := d.Close(); err != nil {
		t.Error(err)
	}
}
