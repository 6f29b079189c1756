package virtio_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// echoFeature is a device feature bit the echo device offers, for
// negotiation tests.
const echoFeature = 9

// echoDevice is the transport tests' device: it serves its one queue with
// virtio.ServeQueue, copying each request's readable bytes into its
// writable buffers.
type echoDevice struct {
	// started, when not nil, gets a value as each request starts; hold,
	// when not nil, is received from before each request completes.
	started chan struct{}
	hold    chan struct{}
	// panics, when set, makes the handler panic (a bug in a device).
	panics atomic.Bool

	handled atomic.Int64
	closed  atomic.Bool
	scratch []byte // the serving goroutine's, reused

	mu         sync.Mutex // Activate, Reset and Close may race
	stop, done chan struct{}
}

var _ virtio.StateDevice = (*echoDevice)(nil)

// echoState is the echo device's saved state: how many requests it
// handled, so a test sees the device's own state come back.
type echoState struct{ Handled int64 }

func (e *echoDevice) SaveDeviceState() ([]byte, error) {
	return json.Marshal(echoState{Handled: e.handled.Load()})
}

func (e *echoDevice) RestoreDeviceState(b []byte) error {
	var s echoState
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("echo state: %w", err)
	}
	if s.Handled < 0 {
		return fmt.Errorf("echo state: %d requests handled", s.Handled)
	}
	e.handled.Store(s.Handled)
	return nil
}

func (e *echoDevice) DeviceID() uint32 { return 42 }
func (e *echoDevice) Features() uint64 {
	return 1<<virtio.FeatureEventIdx | 1<<virtio.FeatureIndirectDesc | 1<<echoFeature
}
func (e *echoDevice) QueueMaxSizes() []uint16    { return []uint16{virtio.MaxQueueSize} }
func (e *echoDevice) ReadConfig(uint64, []byte)  {}
func (e *echoDevice) WriteConfig(uint64, []byte) {}

func (e *echoDevice) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[0].Ready {
		return fmt.Errorf("the echo queue is not set up")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stop, done := make(chan struct{}), make(chan struct{})
	e.stop, e.done = stop, done
	go func() {
		defer close(done)
		virtio.ServeQueue(env, 0, "echo queue", stop, func(c *virtio.Chain) (uint32, bool) {
			return e.handle(c, stop)
		})
	}()
	return nil
}

func (e *echoDevice) handle(c *virtio.Chain, stop <-chan struct{}) (uint32, bool) {
	if e.started != nil {
		e.started <- struct{}{}
	}
	if e.hold != nil {
		select {
		case <-e.hold:
		case <-stop:
			return 0, false
		}
	}
	if e.panics.Load() {
		var table []int
		_ = table[len(c.Buffers)] // index out of range: a device bug
	}
	in := e.scratch[:0]
	for _, b := range c.Buffers {
		if !b.Writable {
			in = append(in, b.Data...)
		}
	}
	e.scratch = in
	written := 0
	for _, b := range c.Buffers {
		if b.Writable {
			n := copy(b.Data, in)
			in, written = in[n:], written+n
		}
	}
	e.handled.Add(1)
	return uint32(written), true
}

func (e *echoDevice) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stop == nil {
		return
	}
	close(e.stop)
	<-e.done
	e.stop, e.done = nil, nil
}

// Close stands for closing a backend.
func (e *echoDevice) Close() error {
	e.Reset()
	e.closed.Store(true)
	return nil
}

// newEchoDriver sets up an echo device behind a transport of version v.
func newEchoDriver(t *testing.T, v virtio.TransportVersion, drop uint64) (*virtiotest.Driver, *echoDevice) {
	t.Helper()
	e := &echoDevice{}
	d := virtiotest.New(t, v, e)
	d.Setup(16, drop)
	return d, e
}

// submitEcho makes a request of msg and as many writable bytes available,
// and returns where the echo goes.
func submitEcho(d *virtiotest.Driver, msg string, indirect bool) uint64 {
	out := d.Buf(nil, len(msg))
	d.Submit([]virtiotest.Seg{
		{GPA: d.Buf([]byte(msg), 0), N: uint32(len(msg))},
		{GPA: out, N: uint32(len(msg)), Writable: true},
	}, indirect)
	return out
}

// echo submits msg, kicks, and checks that it comes back.
func echo(t *testing.T, d *virtiotest.Driver, msg string, indirect bool) bool {
	t.Helper()
	out := submitEcho(d, msg, indirect)
	d.Kick()
	return checkEcho(t, d, out, msg)
}

// checkEcho waits for the next used chain and checks it echoed msg to out.
func checkEcho(t *testing.T, d *virtiotest.Driver, out uint64, msg string) bool {
	t.Helper()
	u := d.Wait(1)
	got := make([]byte, len(msg))
	d.Mem.Read(out, got)
	if u[0].Len != uint32(len(msg)) || string(got) != msg {
		t.Errorf("echo of %q: used length %d, got %q", msg, u[0].Len, got)
		return false
	}
	return true
}
