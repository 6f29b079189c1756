package vmm

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// parkWait is how long Pause waits for a vcpu to leave KVM_RUN; a vcpu
// that takes longer is busy in a device handler that does not return.
const parkWait = 2 * time.Second

// ErrNotPaused and ErrPaused report a Resume or Pause that has nothing to
// do.
var (
	ErrNotPaused = errors.New("the machine is not paused")
	ErrPaused    = errors.New("the machine is already paused")
)

// pauseState is the machine's pause: while resume is set, vcpus park
// before entering the guest, until it is closed. Vcpu threads read it
// without a lock (Pause holds m.control while it waits for them); Pause
// and Resume change it under m.control.
type pauseState struct {
	resume        atomic.Pointer[chan struct{}]
	devicesPaused []Pauser
}

// park holds the vcpu while the machine is paused, answering calls (a
// dump) meanwhile. It reports whether it parked, so the loop looks at the
// stop flag again before entering the guest.
func (m *Machine) park(v *vcpu) bool {
	p := m.pause.resume.Load()
	if p == nil {
		return false
	}
	ch := *p
	v.parked.Store(true)
	defer v.parked.Store(false)
	for {
		select {
		case <-ch:
			return true
		case <-m.stopped:
			return true
		case <-v.wake:
			v.answerCall()
		}
	}
}

// Pause stops the guest where it is: every vcpu leaves KVM_RUN and waits,
// then every device that implements Pauser stops touching guest memory.
// It returns once all of them are quiet; the guest notices nothing but
// the time that passed. Pausing a machine that is not running (before Run,
// or after it returned) holds its vcpus from the start.
func (m *Machine) Pause() error {
	m.control.Lock()
	defer m.control.Unlock()
	if m.pause.resume.Load() != nil {
		return ErrPaused
	}
	resume := make(chan struct{})
	m.pause.resume.Store(&resume)
	deadline := time.Now().Add(parkWait)
	for _, v := range m.vcpus {
		for v.hasThread() && !v.parked.Load() && !m.stopping() {
			if time.Now().After(deadline) {
				// Let the others go again: a half-paused machine is
				// worse than a running one.
				m.pause.resume.Store(nil)
				close(resume)
				return fmt.Errorf("pausing: vcpu %d did not leave the guest within %v (busy in a device handler?)", v.ID, parkWait)
			}
			v.kick()
			time.Sleep(time.Millisecond)
		}
	}
	for _, d := range m.devices {
		if p, ok := d.(Pauser); ok {
			p.Pause()
			m.pause.devicesPaused = append(m.pause.devicesPaused, p)
		}
	}
	return nil
}

// Resume lets a paused machine carry on: devices first, then vcpus.
func (m *Machine) Resume() error {
	m.control.Lock()
	defer m.control.Unlock()
	p := m.pause.resume.Load()
	if p == nil {
		return ErrNotPaused
	}
	m.resumeDevicesLocked()
	m.pause.resume.Store(nil)
	close(*p)
	return nil
}

// Paused reports whether the machine is paused.
func (m *Machine) Paused() bool {
	return m.pause.resume.Load() != nil
}

func (m *Machine) resumeDevices() {
	m.control.Lock()
	defer m.control.Unlock()
	m.resumeDevicesLocked()
}

func (m *Machine) resumeDevicesLocked() {
	for _, p := range m.pause.devicesPaused {
		p.Resume()
	}
	m.pause.devicesPaused = nil
}
