package virtio

import (
	"errors"
	"fmt"
)

// checkState checks a saved state against this transport and its device
// before anything of it is restored: it must be one this transport could
// have been in, as the driver's register writes and the device's work
// leave it. What only a driver's later DRIVER_OK would check (a queue's
// addresses) is register content until then, as any driver may write it;
// a queue the device runs with is checked as activation checks it. It
// reports whether the device was running. t.mu is held.
func (t *transport) checkState(s *State) (run bool, err error) {
	switch {
	case s.Transport != t.version:
		return false, fmt.Errorf("saved from a version %d transport, this one is version %d", s.Transport, t.version)
	case s.DeviceID != t.dev.DeviceID():
		return false, fmt.Errorf("saved from a virtio device of type %d, this one is type %d", s.DeviceID, t.dev.DeviceID())
	case s.Offered != t.offered:
		return false, fmt.Errorf("the device offered features %#x when saved, %#x now (made with other options?)", s.Offered, t.offered)
	case len(s.Queues) != len(t.queues):
		return false, fmt.Errorf("%d queues saved, the device has %d", len(s.Queues), len(t.queues))
	case s.InterruptStatus&^(InterruptUsedBuffer|InterruptConfigChange) != 0:
		return false, fmt.Errorf("interrupt status %#x has bits no device raises", s.InterruptStatus)
	case !pow2(s.GuestPageSize) || (t.version == Modern && s.GuestPageSize != 4096):
		return false, fmt.Errorf("guest page size %d is not one the driver can set", s.GuestPageSize)
	}
	if err := t.checkStatus(s); err != nil {
		return false, err
	}
	run = s.Status&StatusDriverOK != 0 && !s.NeedsReset
	for i := range s.Queues {
		if err := t.checkQueue(s, i, run); err != nil {
			return false, fmt.Errorf("queue %d: %w", i, err)
		}
	}
	return run, nil
}

// checkStatus checks the status and features against each other, as
// writeStatus and activate leave them.
func (t *transport) checkStatus(s *State) error {
	st := s.Status
	settled := st&(StatusFeaturesOK|StatusDriverOK) != 0
	switch {
	case st&^(driverStatus|StatusDeviceNeedsReset) != 0:
		return fmt.Errorf("status %#x has bits no driver sets", st)
	case t.version == Legacy && st&StatusDeviceNeedsReset != 0:
		return fmt.Errorf("status %#x: a legacy transport has no DEVICE_NEEDS_RESET", st)
	case t.version == Modern && (st&StatusDeviceNeedsReset != 0) != s.NeedsReset:
		return fmt.Errorf("status %#x and NeedsReset %v disagree", st, s.NeedsReset)
	case (settled || t.version == Legacy) && s.DriverFeatures&^t.offered != 0:
		return fmt.Errorf("features %#x were never offered (%#x offered)", s.DriverFeatures&^t.offered, t.offered)
	case t.version == Modern && st&StatusFeaturesOK != 0 && s.DriverFeatures&(1<<FeatureVersion1) == 0:
		return fmt.Errorf("status %#x: FEATURES_OK without VERSION_1", st)
	case t.version == Modern && st&StatusDriverOK != 0 && st&StatusFeaturesOK == 0 && !s.NeedsReset:
		return fmt.Errorf("status %#x: a device running without FEATURES_OK", st)
	}
	return nil
}

// checkQueue checks queue i's registers, and its ring position when the
// device ran with it; run says whether it runs again.
func (t *transport) checkQueue(s *State, i int, run bool) error {
	q := &s.Queues[i]
	c := queueConfig{max: t.queues[i].max, size: q.Size, ready: q.Ready, desc: q.Desc, avail: q.Avail, used: q.Used, pfn: q.PFN, align: q.Align}
	switch {
	case c.size != 0 && (c.size > c.max || !pow2(uint32(c.size))):
		return fmt.Errorf("size %d is not a power of 2 up to %d", c.size, c.max)
	case t.version == Modern && (c.pfn != 0 || c.align != 4096):
		return errors.New("legacy registers set on a modern transport")
	case t.version == Legacy && (c.ready || c.desc != 0 || c.avail != 0 || c.used != 0):
		return errors.New("modern registers set on a legacy transport")
	case !pow2(c.align):
		return fmt.Errorf("alignment %d is not a power of 2", c.align)
	}
	ready := c.isReady(t.version)
	switch {
	case q.Ring == nil && run && ready:
		return errors.New("set up, but the running device has no place in its rings")
	case q.Ring == nil:
		return nil
	case s.Status&StatusDriverOK == 0 || !ready:
		return errors.New("a place in the rings of a queue the device never ran with")
	}
	// Laid out as the device ran with it: activation checked it then.
	features := s.DriverFeatures & t.offered
	rq := c.queue(t.version, s.GuestPageSize)
	if err := rq.Activate(t.mem, features&(1<<FeatureEventIdx) != 0, features&(1<<FeatureIndirectDesc) != 0); err != nil {
		return err
	}
	return checkRingState(*q.Ring, rq.Size)
}

// pow2 reports whether v is a power of 2.
func pow2(v uint32) bool { return v != 0 && v&(v-1) == 0 }
