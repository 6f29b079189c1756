package virtio

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/vmm"
)

// A transport's saved state (vmm.StateDevice) is its registers, where its
// device is in each running queue's rings, and the device's own state
// (StateDevice). It is saved while the machine is paused: Pause returned
// once the gate held the device's goroutines between requests, so a
// device that takes, performs and returns each chain inside the gate
// (ServeQueue, and rng's and console's loops) has none taken and not yet
// returned: the request that was in flight when the machine paused has
// completed, its used element written to guest RAM (saved with it), and
// the next waits in the available ring. A device that waits outside the
// gate in the middle of a request first gives back what it took for it
// (Queue.Rollback: virtio-net's receive loop). The rings a host kernel
// serves are where the kernel says (KernelRings). A restored device goes on from
// the same place in each ring, and is kicked once on every queue, so that
// it serves what the driver made available before the save and makes the
// interrupt decision the saved device was about to make.
//
// The config generation is not saved: it is always 0 (no device's config
// changes under the driver).

var (
	_ vmm.StateDevice = (*MMIO)(nil)
	_ vmm.StateDevice = (*attached)(nil)
)

// State is a virtio-mmio transport's saved state. Its JSON is the format:
// fields are added, never renamed.
type State struct {
	// Transport and DeviceID are the register layout and the device's
	// type; Offered the features the transport offered. A state restores
	// only into a transport that has the same (another disk mode offers
	// other features).
	Transport TransportVersion
	DeviceID  uint32
	Offered   uint64
	// DriverFeatures are what the driver wrote. Once settled (FEATURES_OK
	// or DRIVER_OK) they are the negotiated features, a part of Offered;
	// before, a modern driver may have asked for more, which FEATURES_OK
	// will refuse. A legacy transport's are saved as it uses them: the
	// bits beyond Offered dropped.
	DriverFeatures    uint64
	DeviceFeaturesSel uint32
	DriverFeaturesSel uint32
	QueueSel          uint32
	Status            uint32
	InterruptStatus   uint32
	GuestPageSize     uint32 // legacy
	// NeedsReset: a driver error or a failure stopped the device until
	// the driver resets it (DEVICE_NEEDS_RESET on a modern transport).
	NeedsReset bool
	Queues     []QueueState
	// Device is the device's own state (StateDevice).
	Device []byte
}

// QueueState is one queue's registers, and where the device is in its
// rings while it runs with it.
type QueueState struct {
	Size              uint16 // QueueNum: 0 or a power of 2 up to QueueNumMax
	Ready             bool   // modern
	Desc, Avail, Used uint64 // modern
	PFN, Align        uint32 // legacy
	// Ring is set when the device was activated with the queue.
	Ring *RingState `json:",omitempty"`
}

// SaveState implements vmm.StateDevice. It fails for a device that is not
// a StateDevice (naming it, and wrapping vmm.ErrNotSaveable), and for a
// running device that is not paused.
func (t *MMIO) SaveState() ([]byte, error) { return t.saveState() }

// saveState is a transport's saved state, for a layout whose own
// registers are the transport's (virtio-mmio).
func (t *transport) saveState() ([]byte, error) {
	t.life.Lock()
	defer t.life.Unlock()
	sd, ok := t.dev.(StateDevice)
	if !ok {
		return nil, fmt.Errorf("%w: %s (virtio device type %d) has no saved state yet", vmm.ErrNotSaveable, t.name, t.dev.DeviceID())
	}
	t.mu.Lock()
	s, err := t.stateLocked()
	active, sizes := t.active, t.runningSizes()
	t.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("saving %s: %w", t.name, err)
	}
	// Without t.mu: the device may take locks of its own that its
	// goroutines hold while they interrupt.
	if kr, ok := t.dev.(KernelRings); ok && active {
		if err := kernelRingStates(kr, &s, sizes); err != nil {
			return nil, fmt.Errorf("saving %s: %w", t.name, err)
		}
	}
	if s.Device, err = sd.SaveDeviceState(); err != nil {
		return nil, fmt.Errorf("saving %s's device state: %w", t.name, err)
	}
	return json.Marshal(s)
}

// stateLocked reads the registers and rings; t.life and t.mu are held.
func (t *transport) stateLocked() (State, error) {
	switch {
	case t.closed:
		return State{}, errors.New("the transport is closed")
	case t.active && !t.gate.holding():
		return State{}, errors.New("the device runs: it must be paused (vmm.Pauser) before it is saved")
	}
	features := t.driverFeat
	if t.version == Legacy {
		features &= t.offered // as activate uses them (status.go)
	}
	s := State{
		Transport: t.version, DeviceID: t.dev.DeviceID(), Offered: t.offered,
		DriverFeatures: features, DeviceFeaturesSel: t.devFeatSel, DriverFeaturesSel: t.drvFeatSel,
		QueueSel: t.queueSel, Status: t.status, InterruptStatus: t.intStatus, GuestPageSize: t.pageSize,
		NeedsReset: t.broken,
	}
	for i, c := range t.queues {
		q := QueueState{Size: c.size, Ready: c.ready, Desc: c.desc, Avail: c.avail, Used: c.used, PFN: c.pfn, Align: c.align}
		if c.running {
			if i >= len(t.running) || t.running[i] == nil {
				return State{}, fmt.Errorf("queue %d runs without a Queue (a bug in gokvm)", i)
			}
			r := t.running[i].ringState()
			q.Ring = &r
		}
		s.Queues = append(s.Queues, q)
	}
	return s, nil
}

// runningSizes are the sizes of the queues the device runs with (0 for
// the others): a legacy queue's register may be 0 for its largest. t.mu
// is held.
func (t *transport) runningSizes() []uint16 {
	sizes := make([]uint16, len(t.running))
	for i, q := range t.running {
		if q != nil && q.Ready {
			sizes[i] = q.Size
		}
	}
	return sizes
}

// kernelRingStates puts where the host kernel is in the rings it serves
// into s, in place of what the transport's Queues say (they are not the
// kernel's). A place no device reaches is refused as a restore refuses it:
// the kernel told something else than gokvm understood.
func kernelRingStates(kr KernelRings, s *State, sizes []uint16) error {
	rings, err := kr.RingStates()
	if err != nil {
		return fmt.Errorf("where the kernel is in its rings: %w", err)
	}
	for _, i := range kr.FDNotifiedQueues() {
		if i < 0 || i >= len(s.Queues) || i >= len(sizes) || s.Queues[i].Ring == nil {
			continue // a queue the driver did not set up
		}
		r, ok := rings[i]
		if !ok {
			return fmt.Errorf("the kernel did not say where it is in queue %d's rings", i)
		}
		if err := checkRingState(r, sizes[i]); err != nil {
			return fmt.Errorf("queue %d, as the kernel has it: %w", i, err)
		}
		s.Queues[i].Ring = &r
	}
	return nil
}

// RestoreState implements vmm.StateDevice. It checks the whole state
// before it changes anything: a state no transport of this kind could
// have been in is refused, naming what is wrong, and leaves the transport
// as it was. A device that was running (DRIVER_OK, not broken) is
// activated again as the driver's DRIVER_OK did, with its queues where
// they were, and kicked once on each. The interrupt status is restored,
// not raised again: a pending interrupt is the interrupt controller's
// state, saved with it. A broken device stays broken until the driver
// resets it. The driver's FAILED bit is restored as it is, and changes
// nothing, as it changes nothing on a running transport.
func (t *MMIO) RestoreState(b []byte) error { return t.restoreState(b) }

// restoreState is RestoreState for a layout whose own registers are the
// transport's (virtio-mmio).
func (t *transport) restoreState(b []byte) error {
	s, err := decodeState(b)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", t.name, err)
	}
	t.life.Lock()
	defer t.life.Unlock()
	sd, ok := t.dev.(StateDevice)
	if !ok {
		return fmt.Errorf("%w: %s (virtio device type %d) has no saved state yet", vmm.ErrNotSaveable, t.name, t.dev.DeviceID())
	}
	t.mu.Lock()
	closed := t.closed
	run, err := t.checkState(&s)
	t.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("restoring %s: the transport is closed", t.name)
	case err != nil:
		return fmt.Errorf("restoring %s: %w", t.name, err)
	}
	if err := sd.RestoreDeviceState(s.Device); err != nil {
		return fmt.Errorf("restoring %s's device state: %w", t.name, err)
	}
	t.stopDevice() // a transport restored twice: nothing of the first runs on
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
	rings := t.applyLocked(&s)
	if !run {
		return nil
	}
	if err := t.activate(rings); err != nil {
		t.clearLocked()
		return fmt.Errorf("restoring %s: activating it: %w", t.name, err)
	}
	// The driver's last kick may have gone to the saved device, which
	// was paused before it served it: each running queue is kicked, and
	// a device finding nothing new asks for the next kick as it does
	// after any batch.
	for i, r := range rings {
		if r != nil {
			t.Kick(i)
		}
	}
	return nil
}

// applyLocked puts a checked state into the registers of a cleared
// transport, and returns where the device was in each running queue's
// rings; t.mu is held.
func (t *transport) applyLocked(s *State) []*RingState {
	t.driverFeat, t.devFeatSel, t.drvFeatSel, t.queueSel = s.DriverFeatures, s.DeviceFeaturesSel, s.DriverFeaturesSel, s.QueueSel
	t.status, t.intStatus, t.pageSize = s.Status, s.InterruptStatus, s.GuestPageSize
	rings := make([]*RingState, len(t.queues))
	for i, q := range s.Queues {
		c := &t.queues[i]
		c.size, c.ready, c.desc, c.avail, c.used, c.pfn, c.align = q.Size, q.Ready, q.Desc, q.Avail, q.Used, q.PFN, q.Align
		c.running = q.Ring != nil
		rings[i] = q.Ring
	}
	if s.NeedsReset {
		// As breakLocked left it, without logging again or interrupting:
		// the driver heard of it before the save. Nothing runs, but the
		// queues it ran with keep their place for the next save.
		t.broken, t.failedOnce = true, true
		t.gate.Shut()
		t.running = make([]*Queue, len(t.queues))
		for i, r := range rings {
			if r != nil {
				t.running[i] = &Queue{}
				t.running[i].setRingState(*r)
			}
		}
	}
	return rings
}

func decodeState(b []byte) (State, error) {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return State{}, fmt.Errorf("virtio-mmio state: %w", err)
	}
	return s, nil
}
