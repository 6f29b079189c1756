// Package console is virtio-console (virtio device 3) with one port and
// no multiport control queue: the guest's hvc0. What the guest writes on
// the transmit queue goes to the host's output; the host's input fills
// the buffers the guest offers on the receive queue.
package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/gokvm/gokvm/devices/consoleio"

	"github.com/gokvm/gokvm/devices/virtio"
)

// DeviceID is virtio's console device.
const DeviceID = 3

// Port 0's queues.
const (
	receiveq  = 0
	transmitq = 1
	queueSize = virtio.MaxQueueSize
)

// writeChunk is the most bytes written to the output between two checks
// for a stop, so a reset is prompt however large the guest's buffers.
const writeChunk = 64 << 10

var errClosed = errors.New("closed")

var (
	_ virtio.Device = (*Console)(nil)
	_ io.Closer     = (*Console)(nil)
)

// Console is a virtio-console device.
type Console struct {
	out io.Writer
	in  *input
	log *log.Logger

	// run serialises Activate, Reset and Close, which any number of
	// vcpus (and the machine) may call at once.
	run    sync.Mutex
	stop   chan struct{} // closed to stop the loops; nil when stopped
	wg     sync.WaitGroup
	closed bool
}

// New makes a console that writes what the guest sends to out (discarded
// when nil). Input comes through Pump.
func New(out io.Writer, logger *log.Logger) *Console {
	if out == nil {
		out = io.Discard
	}
	return &Console{out: out, in: newInput(), log: logger}
}

// Pump feeds r to the guest until r ends or ctx is done. Input waits in a
// bounded buffer until the guest's driver offers receive buffers.
func (c *Console) Pump(ctx context.Context, r io.Reader) error { return consoleio.Pump(ctx, c.in, r) }

// Feed queues input for the guest's hvc0, waiting while the buffer is
// full, until ctx ends.
func (c *Console) Feed(ctx context.Context, b []byte) error { return c.in.Feed(ctx, b) }

// DeviceID implements virtio.Device.
func (c *Console) DeviceID() uint32 { return DeviceID }

// Features implements virtio.Device: no console features (no size, no
// multiport, no emergency write).
func (c *Console) Features() uint64 {
	return 1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx
}

// QueueMaxSizes implements virtio.Device: port 0's receive and transmit
// queues.
func (c *Console) QueueMaxSizes() []uint16 { return []uint16{queueSize, queueSize} }

// ReadConfig implements virtio.Device: cols, rows (not offered, 0),
// max_nr_ports 1, emerg_wr.
func (c *Console) ReadConfig(off uint64, data []byte) {
	var cfg [12]byte
	binary.LittleEndian.PutUint32(cfg[4:], 1)
	clear(data)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// WriteConfig implements virtio.Device: emerg_wr without its feature is
// ignored.
func (c *Console) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device.
func (c *Console) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[receiveq].Ready || !env.Queues[transmitq].Ready {
		return fmt.Errorf("receive or transmit queue not set up")
	}
	c.run.Lock()
	defer c.run.Unlock()
	switch {
	case c.closed:
		return fmt.Errorf("virtio-console: %w", errClosed)
	case c.stop != nil:
		return fmt.Errorf("virtio-console: activated twice")
	}
	stop := make(chan struct{})
	c.stop = stop
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.receive(env, stop)
	}()
	go func() {
		defer c.wg.Done()
		virtio.ServeQueue(env, transmitq, "transmit queue", stop, func(ch *virtio.Chain) (uint32, bool) {
			return 0, c.transmit(ch, stop)
		})
	}()
	return nil
}

// Reset implements virtio.Device: both loops stop between requests (or
// within a long write) and Reset waits for them. Pending input stays for
// the next driver.
func (c *Console) Reset() {
	c.run.Lock()
	defer c.run.Unlock()
	c.stopLocked()
}

func (c *Console) stopLocked() {
	if c.stop == nil {
		return
	}
	close(c.stop)
	c.wg.Wait()
	c.stop = nil
}

// Close stops the device for good.
func (c *Console) Close() error {
	c.run.Lock()
	defer c.run.Unlock()
	c.stopLocked()
	c.closed = true
	return nil
}

// transmit writes a chain's readable buffers to the output; false when
// stopped in the middle.
func (c *Console) transmit(ch *virtio.Chain, stop <-chan struct{}) bool {
	for _, b := range ch.Buffers {
		if b.Writable {
			continue
		}
		for p := b.Data; len(p) > 0; {
			select {
			case <-stop:
				return false
			default:
			}
			n := min(len(p), writeChunk)
			// An output that cannot be written (a closed pipe) must not
			// stop the guest: the bytes are dropped.
			_, _ = c.out.Write(p[:n])
			p = p[n:]
		}
	}
	return true
}

// receive moves pending input into the buffers the driver offers on the
// receive queue. It waits for input and for buffers outside the gate.
func (c *Console) receive(env virtio.ActivateEnv, stop <-chan struct{}) {
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover("receive queue")
	q, kick := env.Queues[receiveq], env.Kicks[receiveq]
	var ch virtio.Chain
	fail := func(err error) {
		env.Fail(fmt.Errorf("receive queue: %w", err))
		pass.Leave()
	}
	for {
		if c.in.empty() {
			select {
			case <-stop:
				return
			case <-c.in.ready:
			}
			continue
		}
		if !pass.Enter(stop) {
			return
		}
		ok, err := q.Pop(&ch)
		if err != nil {
			fail(err)
			return
		}
		if !ok {
			more, err := q.EnableNotifications()
			if err != nil {
				fail(err)
				return
			}
			pass.Leave()
			if !more && !kick.Wait(stop) {
				return
			}
			continue
		}
		n := 0
		for _, b := range ch.Buffers {
			if b.Writable {
				n += c.in.take(b.Data)
			}
		}
		// A chain with no writable room goes back empty.
		if err := q.Push(ch.Head, uint32(n)); err != nil {
			fail(err)
			return
		}
		if q.ShouldInterrupt() {
			env.Interrupt(receiveq)
		}
		pass.Leave()
	}
}
