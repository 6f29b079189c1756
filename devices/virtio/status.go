package virtio

import (
	"errors"
	"fmt"
)

// The device status rules (virtio 1.2, 2.1 and 4.2.2; 4.2.4 for legacy).
// The driver's status bits only accumulate until it writes 0 (a reset):
// clearing one, or writing a queue's configuration once the device runs
// with it (or the features once they are settled), is a driver error. The
// write is ignored, the device is marked broken (DEVICE_NEEDS_RESET on a
// modern transport; a legacy one has no such bit and just stops serving),
// the first error is logged, and nothing is served until the driver
// resets the device.

// driverStatus are the status bits a driver sets.
const driverStatus = StatusAcknowledge | StatusDriver | StatusDriverOK | StatusFeaturesOK | StatusFailed

// writeStatus handles a Status write.
func (t *transport) writeStatus(v uint32) {
	t.life.Lock()
	defer t.life.Unlock()
	if v == 0 {
		t.reset()
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.broken {
		return // only a reset brings a broken device back
	}
	old := t.status
	if v&old != old {
		t.driverError("status %#x clears bits of %#x without a reset", v, old)
		return
	}
	// DEVICE_NEEDS_RESET is the device's bit, never the driver's, and
	// the bits virtio 1.2 (2.1) does not define are no one's: the status
	// holds only bits a driver may set, which a saved state relies on
	// (state.go refuses a status with any other).
	v &= driverStatus
	if v&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		// The driver may only take what was offered; a legacy driver
		// never sets FEATURES_OK.
		if t.driverFeat&^t.offered != 0 || (t.version == Modern && t.driverFeat&(1<<FeatureVersion1) == 0) {
			v &^= StatusFeaturesOK
		}
	}
	t.status = v
	if v&StatusDriverOK != 0 && old&StatusDriverOK == 0 && !t.active && !t.closed {
		if err := t.activate(nil); err != nil {
			t.failLocked(fmt.Errorf("activating: %w", err))
		}
	}
}

// activate starts the device with Queues built from the driver's
// registers; t.life and t.mu are held. rings, for a restored device, says
// where it was in each running queue's rings (nil: at their start, as a
// driver's DRIVER_OK has it).
func (t *transport) activate(rings []*RingState) error {
	if t.version == Modern && t.status&StatusFeaturesOK == 0 {
		return errors.New("DRIVER_OK without FEATURES_OK")
	}
	// What the device and its queues run with is only ever what was
	// offered: a modern driver asking for more was refused FEATURES_OK
	// already, but a legacy one has no FEATURES_OK and its extra bits are
	// dropped here, silently, as virtio 1.2 (4.2.4) lets a legacy device
	// do. A device must never see a bit it did not offer: vhost devices
	// hand their features to the kernel, where a bit such as
	// VHOST_F_LOG_ALL or VIRTIO_F_ACCESS_PLATFORM changes what it does.
	features := t.driverFeat & t.offered
	eventIdx := features&(1<<FeatureEventIdx) != 0
	indirect := features&(1<<FeatureIndirectDesc) != 0
	queues := make([]*Queue, len(t.queues))
	kicks := make([]*Kick, len(t.queues))
	for i := range t.queues {
		q := t.queues[i].queue(t.version, t.pageSize)
		if q.Ready {
			if err := q.Activate(t.mem, eventIdx, indirect); err != nil {
				return fmt.Errorf("queue %d: %w", i, err)
			}
			if rings != nil && rings[i] != nil {
				q.setRingState(*rings[i])
			}
		}
		queues[i], kicks[i] = q, t.kicks[i]
	}
	t.kernelQueues = 0
	err := t.dev.Activate(ActivateEnv{
		Mem:         t.mem,
		Features:    features,
		Offered:     t.offered,
		Queues:      queues,
		Kicks:       kicks,
		NotifyFDs:   t.notifyFDs(),
		Interrupt:   t.interrupt,
		InterruptFD: t.interruptFD(queues),
		Fail:        t.fail,
		Fault:       t.fault,
		Gate:        &t.gate,
		Restored:    rings != nil,
	})
	if err != nil {
		t.kernelQueues = 0 // a device that failed released what it took
		return err
	}
	for i := range t.queues {
		t.queues[i].running = queues[i].Ready
	}
	t.running = queues
	t.active = true
	return nil
}

// driverError is a register write the driver must not make: ignored, and
// the device broken until a reset. t.mu is held.
func (t *transport) driverError(format string, args ...any) {
	if t.broken {
		return
	}
	t.failLocked(fmt.Errorf("driver error: "+format, args...))
}

// fail marks the device broken after the driver broke a queue (its
// ActivateEnv.Fail); it logs the first failure only.
func (t *transport) fail(err error) {
	t.mu.Lock()
	t.failLocked(err)
	t.mu.Unlock()
}

func (t *transport) failLocked(err error) {
	if !t.failedOnce {
		t.failedOnce = true
		t.log.Printf("%s: %v; the device needs a reset", t.name, err)
	}
	t.breakLocked()
}

// fault is a bug in gokvm on one of the device's goroutines (its
// ActivateEnv.Fault): logged always, with the stack of a panic, then the
// device fails and the machine hears of it.
func (t *transport) fault(err error) {
	// Reported before the device shows it is broken, so whoever sees the
	// broken device finds the fault already recorded (the machine names
	// the device; it takes no lock of ours).
	t.mu.Lock()
	report := t.onFault
	t.mu.Unlock()
	if report != nil {
		report(err)
	}
	t.mu.Lock()
	var pe *PanicError
	if errors.As(err, &pe) {
		t.log.Printf("%s: %v; the device needs a reset\n%s", t.name, err, pe.Stack)
	} else {
		t.log.Printf("%s: %v; the device needs a reset", t.name, err)
	}
	t.breakLocked()
	t.mu.Unlock()
}

// breakLocked stops the device serving: the gate turns its goroutines
// away between requests. A modern driver sees DEVICE_NEEDS_RESET with a
// configuration change interrupt. t.mu is held.
func (t *transport) breakLocked() {
	if t.broken {
		return
	}
	t.broken = true
	t.gate.Shut()
	if t.version == Modern {
		t.status |= StatusDeviceNeedsReset
		if edge := t.layout.interruptLocked(InterruptConfigChange, -1); edge != nil {
			edge()
		}
	}
}

// NeedsReset reports whether the device stopped serving after a driver
// error or a failure, until the driver resets it. On a modern transport
// the driver reads it as DEVICE_NEEDS_RESET; a legacy one has no such bit.
func (t *transport) NeedsReset() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.broken
}

// stopDevice stops an active device and waits until it stopped; t.life
// is held, t.mu is not (the device's goroutines may be taking it to
// interrupt or fail).
func (t *transport) stopDevice() {
	if !t.active {
		return
	}
	t.dev.Reset()
	t.mu.Lock()
	t.active = false
	t.running = nil
	t.mu.Unlock()
}

// reset is the driver's reset: the device stops, and every register
// returns to its initial value. t.life is held.
func (t *transport) reset() {
	t.stopDevice()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
}

// clearLocked returns every register to its initial value, with no
// device running; t.mu is held.
func (t *transport) clearLocked() {
	for i := range t.queues {
		t.queues[i].reset()
		t.kicks[i].clear()
	}
	t.status, t.intStatus, t.driverFeat = 0, 0, 0
	t.kernelQueues = 0
	t.devFeatSel, t.drvFeatSel, t.queueSel = 0, 0, 0
	t.pageSize = 4096
	t.running = nil
	t.broken = false
	t.gate.Reopen()
	t.layout.resetLocked()
}

// Close stops the device for good: a later DRIVER_OK starts nothing. It
// may be called any number of times, from any goroutine, alongside
// register accesses.
func (t *transport) Close() {
	t.life.Lock()
	defer t.life.Unlock()
	t.stopDevice()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// featuresFixed: the driver's features are settled at FEATURES_OK
// (modern) or DRIVER_OK (legacy, which has no FEATURES_OK).
func (t *transport) featuresFixed() bool {
	return t.status&(StatusFeaturesOK|StatusDriverOK) != 0
}

// queueFixed: a modern queue's registers are the driver's until DRIVER_OK
// (virtio 1.2, 4.2.2); a legacy queue's until the device runs with it.
func (t *transport) queueFixed(q *queueConfig) bool {
	if t.version == Legacy {
		return q.running
	}
	return t.status&StatusDriverOK != 0
}
