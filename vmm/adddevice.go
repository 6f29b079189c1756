package vmm

import (
	"fmt"
	"io"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/hashicorp/go-multierror"
)

// addDevice places a device with the board, creates it with its
// interrupt and notification capabilities, and puts it on the MMIO bus.
func (m *Machine) addDevice(spec DeviceSpec) error {
	if spec.New == nil || spec.Describe == nil {
		return fmt.Errorf("device %s: its spec lacks New or Describe", spec.Name)
	}
	p, err := m.board.PlaceDevice(spec.Area, spec.Size)
	if err != nil {
		return fmt.Errorf("placing %s: %w", spec.Name, err)
	}
	line := m.board.IRQLine(p.IRQ)
	setLevel := func(level bool) {
		if err := m.vm.SetIRQLine(line, level); err != nil {
			m.log.Printf("%s: %v", spec.Name, err)
		}
	}
	pulse := func() { m.pulses.Add(1); setLevel(true); setLevel(false) }
	if efd, err := kvm.NewEventFD(); err == nil {
		if m.vm.IRQFD(p.IRQ, efd.FD()) == nil {
			m.closers = append(m.closers, efd)
			pulse = func() {
				m.pulses.Add(1)
				if err := efd.Signal(); err != nil {
					m.log.Printf("%s: irqfd: %v", spec.Name, err)
				}
			}
		} else {
			efd.Close()
		}
	}
	env := DeviceEnv{
		Name: spec.Name, Mem: m.mem, Placement: p, Log: m.log,
		SetLevel: setLevel,
		Pulse:    pulse,
		WatchWrite: func(off uint64, value uint32) (Notification, error) {
			efd, err := kvm.NewEventFD()
			if err != nil {
				return nil, err
			}
			if err := m.vm.IOEventFD(p.Base+off, 4, uint64(value), efd.FD()); err != nil {
				efd.Close()
				return nil, err
			}
			return countedNotification{efd: efd, wakeups: &m.wakeups}, nil
		},
		Fault: func(err error) {
			m.log.Printf("%s: %v", spec.Name, err)
			m.faultMu.Lock()
			m.faults = multierror.Append(m.faults, fmt.Errorf("%s: %w: %w", spec.Name, ErrDeviceFault, err))
			m.faultMu.Unlock()
		},
	}
	d, err := spec.New(env)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	if c, ok := d.(io.Closer); ok {
		m.closers = append(m.closers, c)
	}
	if err := m.bus.Register(spec.Name, p.Base, p.Size, d); err != nil {
		return err
	}
	m.devices = append(m.devices, d)
	m.placed = append(m.placed, PlacedDevice{Name: spec.Name, Placement: p, Describe: spec.Describe})
	stateName := spec.StateName
	if stateName == "" {
		stateName = spec.Name
	}
	m.stateNames = append(m.stateNames, stateName)
	return nil
}
