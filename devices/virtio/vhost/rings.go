package vhost

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/gokvm/gokvm/devices/virtio"
)

// Backend starts and stops a vhost device's data path once its rings are
// set up.
type Backend interface {
	// Attach starts it: vhost-net attaches the tap to each ring,
	// vhost-vsock sets the device running.
	Attach(d *Dev) error
	// Detach stops it: once it returns, the kernel touches no ring and
	// no guest buffer until the next Attach.
	Detach(d *Dev) error
}

// Rings runs some of a virtio device's queues in the kernel: the device's
// Activate, Reset, Pause, Resume and Close call its own. Vring i of the
// vhost device is the device's queue Queues[i].
//
// Interrupts: vhost signals a call eventfd per ring for used buffers.
// Where the transport can (virtio-mmio on a host with irqfds,
// ActivateEnv.InterruptFD), each is a KVM irqfd on the device's line, so
// the kernel raises the interrupt with no goroutine of gokvm's in
// between, and the transport reports USED_BUFFER in every interrupt
// while the rings run (kvmtool relays them through a thread of its own
// over virtio-mmio). Such interrupts are not held by the transport's
// Gate: the backend, detached in Pause, stops signalling them instead (one
// signalled just before lands in the paused GIC, or after it was saved;
// a restored device raises one per ring for that). Once the transport
// breaks the device (DEVICE_NEEDS_RESET), even while paused, a goroutine
// waiting for the gate to shut detaches the backend until the driver
// resets the device. Elsewhere a goroutine waits on each call
// eventfd and raises the transport's interrupt inside the Gate, so none
// is raised while the machine is paused, and detaches a broken device's
// backend when it finds the gate shut. vhost translates every
// descriptor through the memory table itself, so a broken device's rings
// can reach nothing but guest RAM meanwhile.
//
// Notifications: where KVM has ioeventfds, the kernel waits on the
// queue's ioeventfd itself (ActivateEnv.NotifyFDs); elsewhere a goroutine
// forwards the transport's kicks to an eventfd of its own.
type Rings struct {
	name    string
	dev     *Dev
	queues  []int
	backend Backend
	calls   []*eventFD // per ring, for the device's life
	kicks   []*eventFD // per ring, used where there is no ioeventfd

	// mu serialises Activate, Reset, Pause, Resume and Close; the
	// goroutines never take it, so Reset may wait for them holding it.
	mu       sync.Mutex
	active   bool // the rings are set up: Activate, no Reset since
	attached bool // the backend runs
	broken   bool // detached after the transport broke the device
	paused   bool
	closed   bool
	stop     chan struct{}
	wg       sync.WaitGroup
	kickFDs  []int // the rings' kick descriptors while active
	// releases undo, while active, what made the calls KVM irqfds
	// (ActivateEnv.InterruptFD); nil where a goroutine per ring relays
	// them instead.
	releases []func() error
	fault    func(error) // the activation's ActivateEnv.Fault
	// env is the activation's: the queues the rings are, and guest RAM,
	// where a saved state reads their used index (ringstate.go).
	env virtio.ActivateEnv
}

// NewRings prepares queues (the device's queue indices, in vring order)
// for the vhost device d, which the Rings own from then on (Close closes
// it).
func NewRings(name string, d *Dev, queues []int, b Backend) (*Rings, error) {
	r := &Rings{name: name, dev: d, queues: queues, backend: b}
	for range queues {
		call, err := newEventFD()
		if err != nil {
			r.Close()
			return nil, err
		}
		r.calls = append(r.calls, call)
		kick, err := newEventFD()
		if err != nil {
			r.Close()
			return nil, err
		}
		r.kicks = append(r.kicks, kick)
	}
	return r, nil
}

// errClosed: closed rings do not start again.
var errClosed = errors.New("vhost device closed")

// Activate hands the rings to the kernel: the negotiated features (of
// those vhost supports; the caller masks them; never one the driver was
// not offered), guest RAM, each ring's
// size, start and translated addresses, its kick and call eventfds; then
// the backend starts, unless the machine is paused. A ring the driver did
// not set up, or placed outside guest RAM, is an error: the transport
// then marks the device broken, and the kernel is given nothing.
func (r *Rings) Activate(env virtio.ActivateEnv, features uint64) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return fmt.Errorf("%s: %w", r.name, errClosed)
	case r.active:
		return fmt.Errorf("%s: activated twice", r.name)
	case features&^env.Offered != 0:
		// The transport gives the device only offered bits; a device
		// that adds one (the kernel's own, say) must not reach the
		// kernel with it: VHOST_F_LOG_ALL or VIRTIO_F_ACCESS_PLATFORM
		// would change how vhost treats guest memory.
		return fmt.Errorf("%s: features %#x include %#x, not offered to the driver (%#x)", r.name, features, features&^env.Offered, env.Offered)
	}
	addrs := make([]vringAddr, len(r.queues))
	for i, qi := range r.queues {
		if qi >= len(env.Queues) || !env.Queues[qi].Ready {
			return fmt.Errorf("queue %d is not set up", qi)
		}
		if addrs[i], err = RingAddrs(env.Mem, env.Queues[qi], uint32(i)); err != nil {
			return fmt.Errorf("queue %d: %w", qi, err)
		}
	}
	if err := r.dev.SetFeatures(features); err != nil {
		return err
	}
	if err := r.dev.SetMemTable(env.Mem); err != nil {
		return err
	}
	stop := make(chan struct{})
	r.kickFDs = make([]int, len(r.queues))
	var forward []int
	for i, qi := range r.queues {
		q, idx := env.Queues[qi], uint32(i)
		kick := -1
		if qi < len(env.NotifyFDs) {
			kick = env.NotifyFDs[qi]
		}
		if kick < 0 {
			kick = r.kicks[i].fd
			forward = append(forward, i)
		}
		r.kickFDs[i] = kick
		r.calls[i].drain() // nothing left from an earlier run
		for _, step := range []func() error{
			func() error { return r.dev.SetVringNum(idx, q.Size) },
			// Where the device is in the ring: its start after a
			// driver's DRIVER_OK, the saved place after a restore
			// (the transport put it in the Queue). The kernel reads
			// the used index from guest RAM when the backend is
			// attached (vhost_vq_init_access in drivers/vhost/vhost.c).
			func() error { return r.dev.SetVringBase(idx, q.NextAvail()) },
			func() error { return r.dev.setVringAddr(addrs[i]) },
			func() error { return r.dev.SetVringKick(idx, kick) },
			func() error { return r.dev.SetVringCall(idx, r.calls[i].fd) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
	}
	r.releases = r.directInterrupts(env)
	if !r.paused {
		if err := r.backend.Attach(r.dev); err != nil {
			r.backend.Detach(r.dev)
			r.releaseInterrupts()
			return err
		}
		r.attached = true
	}
	r.stop, r.fault, r.active, r.broken, r.env = stop, env.Fault, true, false, env
	r.env.InterruptFD = nil // Activate's only
	for i := range r.queues {
		if env.Restored {
			// The saved kernel may have used chains and signalled
			// their interrupt while the machine paused (the signal
			// held at the gate, or not yet injected when the GIC was
			// saved) and lost with the saved process; an interrupt
			// too many costs the driver a look at its ring.
			r.calls[i].signal()
		}
		if r.releases == nil {
			r.wg.Add(1)
			go r.interrupts(env, r.queues[i], r.calls[i], stop)
		}
	}
	if r.releases != nil {
		r.wg.Add(1)
		go r.watchBroken(env.Gate, stop)
	}
	if env.Restored && r.attached {
		// The driver's notifications to the saved kernel after it was
		// paused went nowhere: look at every ring, as Resume does.
		for _, fd := range r.kickFDs {
			signalFD(fd)
		}
	}
	for _, i := range forward {
		r.wg.Add(1)
		go r.forwardKicks(env, env.Kicks[r.queues[i]], r.kicks[i], stop)
	}
	return nil
}

// interrupts raises the transport's interrupt for queue each time the
// kernel signals used buffers on its ring, inside the Gate (held while
// paused).
func (r *Rings) interrupts(env virtio.ActivateEnv, queue int, call *eventFD, stop <-chan struct{}) {
	defer r.wg.Done()
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover(r.name + " interrupts")
	for call.wait() == nil {
		if !pass.Enter(stop) {
			// Stopped, or the transport broke the device: then the
			// kernel must stop serving it too, until a reset.
			go r.detachBroken(stop)
			return
		}
		env.Interrupt(queue)
		pass.Leave()
	}
}

// directInterrupts makes each ring's call eventfd raise its queue's
// interrupt in the kernel (env.InterruptFD: a KVM irqfd), so that no
// goroutine of gokvm's stands between vhost and the guest, and returns
// what undoes it; nil where the transport cannot, or could not for every
// ring (then none is: a goroutine per ring relays them all).
func (r *Rings) directInterrupts(env virtio.ActivateEnv) []func() error {
	if env.InterruptFD == nil {
		return nil
	}
	var releases []func() error
	for i, qi := range r.queues {
		release, err := env.InterruptFD(qi, r.calls[i].fd)
		if err != nil {
			// The transport goes on reporting USED_BUFFER for the
			// rings it handed over until a reset: an extra look at
			// the rings per interrupt, no more.
			for _, rel := range releases {
				rel()
			}
			return nil
		}
		releases = append(releases, release)
	}
	return releases
}

// releaseInterrupts undoes directInterrupts: the kernel's signals of the
// calls raise nothing from then on.
func (r *Rings) releaseInterrupts() error {
	var errs *multierror.Error
	for _, rel := range r.releases {
		if err := rel(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	r.releases = nil
	return errs.ErrorOrNil()
}

// watchBroken is what the interrupt goroutines do of the gate where the
// kernel raises the interrupts itself: once the transport breaks the
// device (the gate shut), the backend is detached until the driver
// resets the device.
func (r *Rings) watchBroken(g *virtio.Gate, stop <-chan struct{}) {
	defer r.wg.Done()
	if g.WaitShut(stop) {
		go r.detachBroken(stop)
	}
}

// detachBroken stops the data path of a device the transport broke (its
// gate shut), unless a reset came first. It runs on a goroutine of its
// own, outside wg: Reset holds mu while it waits for the interrupt
// goroutines.
func (r *Rings) detachBroken(stop <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if (<-chan struct{})(r.stop) != stop || !r.active {
		return // reset or closed meanwhile
	}
	select {
	case <-stop:
		return
	default:
	}
	// Broken even while paused (the backend detached already): Resume
	// must not attach it again until the driver resets the device.
	r.broken = true
	if !r.attached {
		return
	}
	r.attached = false
	if err := r.backend.Detach(r.dev); err != nil && r.fault != nil {
		r.fault(fmt.Errorf("%s: stopping a broken device: %w", r.name, err))
	}
}

// forwardKicks passes the driver's notifications, arriving as MMIO
// writes, to the ring's kick eventfd.
func (r *Rings) forwardKicks(env virtio.ActivateEnv, kicks *virtio.Kick, kick *eventFD, stop <-chan struct{}) {
	defer r.wg.Done()
	defer env.Recover(r.name + " notifications")
	for kicks.Wait(stop) {
		if err := kick.signal(); err != nil {
			env.Fail(fmt.Errorf("%s: notification: %w", r.name, err))
			return
		}
	}
}

// Reset stops the kernel's data path (the backend detached, each ring's
// position read back, which waits for the kernel to be done with it) and
// the goroutines, and waits for them. It is safe to call any number of
// times, from any goroutine.
func (r *Rings) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resetLocked()
}

func (r *Rings) resetLocked() {
	if !r.active {
		return
	}
	var errs *multierror.Error
	if err := r.backend.Detach(r.dev); err != nil {
		errs = multierror.Append(errs, err)
	}
	r.attached = false
	for i := range r.queues {
		if _, err := r.dev.GetVringBase(uint32(i)); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if err := r.releaseInterrupts(); err != nil {
		errs = multierror.Append(errs, err)
	}
	close(r.stop)
	for _, c := range r.calls {
		c.signal() // wakes its goroutine, which sees the stop
	}
	r.wg.Wait()
	r.active = false
	if err := errs.ErrorOrNil(); err != nil && r.fault != nil {
		// The kernel may still touch the rings: gokvm's failure, not
		// the guest's.
		r.fault(fmt.Errorf("%s: stopping: %w", r.name, err))
	}
}

// Pause detaches the backend, so the kernel touches no guest memory and
// signals no interrupt until Resume. The transport has already held the
// interrupt goroutines, where there are any.
func (r *Rings) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = true
	if r.active && r.attached {
		r.attached = false
		if err := r.backend.Detach(r.dev); err != nil && r.fault != nil {
			r.fault(fmt.Errorf("%s: pausing: %w", r.name, err))
		}
	}
}

// Resume attaches the backend again and has the kernel look at every
// ring, for notifications that came while it was detached.
func (r *Rings) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = false
	if !r.active || r.attached || r.broken {
		return
	}
	if err := r.backend.Attach(r.dev); err != nil {
		if r.fault != nil {
			r.fault(fmt.Errorf("%s: resuming: %w", r.name, err))
		}
		return
	}
	r.attached = true
	for _, fd := range r.kickFDs {
		signalFD(fd)
	}
}

// Close stops the rings and closes the vhost device and the eventfds.
// Every call after the first does nothing.
func (r *Rings) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.resetLocked()
	r.closed = true
	var errs *multierror.Error
	if r.dev != nil {
		if err := r.dev.Close(); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	for _, e := range append(r.calls, r.kicks...) {
		e.close()
	}
	return errs.ErrorOrNil()
}
