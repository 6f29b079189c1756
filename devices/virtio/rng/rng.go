// Package rng is virtio-rng (virtio device 4): an entropy device whose
// one request queue the guest fills with empty buffers and gets back full
// of the host's random bytes (getrandom), the guest's /dev/hwrng and an
// early seed of its crng.
package rng

import (
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"golang.org/x/sys/unix"
)

// DeviceID is virtio's entropy device.
const DeviceID = 4

// Bounds on what one guest can take, so that a driver offering huge
// buffers as fast as it can neither makes gokvm allocate (bytes go
// straight into guest RAM) nor keeps a host CPU busy.
const (
	queueSize = virtio.MaxQueueSize
	// MaxPerRequest is the most bytes one request gets; Linux's driver
	// asks for at most a few hundred.
	MaxPerRequest = 64 << 10
	// MaxPerWake is the most bytes served before the device rests for
	// Rest, outside the gate: at most MaxPerWake every Rest (50 MiB/s).
	MaxPerWake = 256 << 10
	Rest       = 5 * time.Millisecond
)

// Source fills p with random bytes, as getrandom(2) does: it may fill
// fewer than len(p).
type Source func(p []byte) (int, error)

// Getrandom is the host's entropy: getrandom(2) from the kernel's crng,
// which blocks only before the host's crng is seeded.
func Getrandom(p []byte) (int, error) { return unix.Getrandom(p, 0) }

var _ virtio.Device = (*RNG)(nil)

// RNG is a virtio-rng device.
type RNG struct {
	src Source
	log *log.Logger

	// run serialises Activate and Reset, which any number of vcpus may
	// call at once.
	run  sync.Mutex
	stop chan struct{} // closed to stop the worker; nil when stopped
	done chan struct{} // closed when the worker returned

	logged sync.Once
}

// New makes an entropy device reading from src (Getrandom when nil).
func New(src Source, logger *log.Logger) *RNG {
	if src == nil {
		src = Getrandom
	}
	return &RNG{src: src, log: logger}
}

// DeviceID implements virtio.Device.
func (r *RNG) DeviceID() uint32 { return DeviceID }

// Features implements virtio.Device: the device has none of its own.
func (r *RNG) Features() uint64 {
	return 1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx
}

// QueueMaxSizes implements virtio.Device: one request queue.
func (r *RNG) QueueMaxSizes() []uint16 { return []uint16{queueSize} }

// ReadConfig implements virtio.Device: there is no config space.
func (r *RNG) ReadConfig(_ uint64, data []byte) { clear(data) }

// WriteConfig implements virtio.Device.
func (r *RNG) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device.
func (r *RNG) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[0].Ready {
		return fmt.Errorf("the request queue is not set up")
	}
	r.run.Lock()
	defer r.run.Unlock()
	if r.stop != nil {
		return errors.New("virtio-rng: activated twice")
	}
	stop, done := make(chan struct{}), make(chan struct{})
	r.stop, r.done = stop, done
	go func() {
		defer close(done)
		r.serve(env, stop)
	}()
	return nil
}

// Reset implements virtio.Device: the worker stops between requests and
// Reset waits for it.
func (r *RNG) Reset() {
	r.run.Lock()
	defer r.run.Unlock()
	if r.stop == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.stop, r.done = nil, nil
}

// serve answers requests as virtio.ServeQueue does, but rests outside the
// gate after every MaxPerWake bytes while the driver keeps asking.
func (r *RNG) serve(env virtio.ActivateEnv, stop <-chan struct{}) {
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover("request queue")
	q, kick := env.Queues[0], env.Kicks[0]
	var c virtio.Chain
	for kick.Wait(stop) {
		for {
			if !pass.Enter(stop) {
				return
			}
			more, err := r.batch(q, &c)
			if err != nil {
				env.Fail(fmt.Errorf("request queue: %w", err))
				pass.Leave()
				return
			}
			if q.ShouldInterrupt() {
				env.Interrupt(0)
			}
			pass.Leave()
			if !more {
				break
			}
			select {
			case <-stop:
				return
			case <-time.After(Rest):
			}
		}
	}
}

// batch serves requests until the queue is empty (false: wait for a kick)
// or MaxPerWake bytes went out with requests left (true).
func (r *RNG) batch(q *virtio.Queue, c *virtio.Chain) (more bool, err error) {
	budget := MaxPerWake
	for {
		if budget <= 0 {
			return true, nil
		}
		ok, err := q.Pop(c)
		if err != nil {
			return false, err
		}
		if !ok {
			more, err := q.EnableNotifications()
			if err != nil || !more {
				return false, err
			}
			continue
		}
		n := r.fill(c, min(MaxPerRequest, budget))
		budget -= max(n, 1) // an empty request costs something too
		if err := q.Push(c.Head, uint32(n)); err != nil {
			return false, err
		}
	}
}

// fill writes up to limit random bytes into the chain's writable buffers
// and returns how many it wrote; a chain without any gets 0.
func (r *RNG) fill(c *virtio.Chain, limit int) int {
	n := 0
	for _, b := range c.Buffers {
		if !b.Writable || n >= limit {
			continue
		}
		p := b.Data[:min(len(b.Data), limit-n)]
		for len(p) > 0 {
			m, err := r.src(p)
			if err == unix.EINTR {
				continue
			}
			if err != nil || m <= 0 || m > len(p) {
				r.logged.Do(func() {
					if r.log != nil {
						r.log.Printf("virtio-rng: the host's entropy source failed (%d bytes, %v); requests get what was read", m, err)
					}
				})
				return n
			}
			p = p[m:]
			n += m
		}
	}
	return n
}
