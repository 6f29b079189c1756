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
	setLevel, pulse, pulseFD := m.interrupts(spec.Name, p)
	env := DeviceEnv{
		Name: spec.Name, Mem: m.mem, Placement: p, Log: m.log,
		SetLevel: setLevel,
		Pulse:    pulse,
		PulseFD:  pulseFD,
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
		NewNotification: m.newNotification,
		MapWindow:       m.mapWindow(spec.Name, p),
		NewMSI:          func() (MSI, error) { return m.newMSI(spec.Name, p) },
		Fault: func(err error) {
			m.log.Printf("%s: %v", spec.Name, err)
			m.faultMu.Lock()
			m.faults = multierror.Append(m.faults, fmt.Errorf("%s: %w: %w", spec.Name, ErrDeviceFault, err))
			m.faultMu.Unlock()
		},
	}
	env.MapReadOnly, env.UnmapReadOnly = m.readOnlyWindow(p)
	d, err := spec.New(env)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	if c, ok := d.(io.Closer); ok {
		m.closers = append(m.closers, c)
	}
	register := m.bus.Register
	if spec.Background {
		register = m.bus.RegisterBackground
	}
	if err := register(spec.Name, p.Base, p.Size, d); err != nil {
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

// addBoardDevices puts the board's own devices on the MMIO bus.
func (m *Machine) addBoardDevices() error {
	db, ok := m.board.(DeviceBoard)
	if !ok {
		return nil
	}
	for _, d := range db.BoardDevices() {
		if err := m.bus.Register(d.Name, d.Base, d.Size, d.Device); err != nil {
			return err
		}
	}
	return nil
}

// interrupts are a device's SetLevel, Pulse and PulseFD for its
// placement: the interrupt line through KVM_IRQ_LINE, an edge through an
// irqfd where the host has them (PulseFD nil otherwise); nothing for a
// placement without an interrupt.
func (m *Machine) interrupts(name string, p Placement) (setLevel func(bool), pulse func(), pulseFD func(int) (func() error, error)) {
	if p.IRQ == NoIRQ {
		return func(bool) {}, func() {}, nil
	}
	line := m.board.IRQLine(p.IRQ)
	setLevel = func(level bool) {
		if err := m.vm.SetIRQLine(line, level); err != nil {
			m.log.Printf("%s: %v", name, err)
		}
	}
	pulse = func() { m.pulses.Add(1); setLevel(true); setLevel(false) }
	if efd, err := kvm.NewEventFD(); err == nil {
		if m.vm.IRQFD(p.IRQ, efd.FD()) == nil {
			m.closers = append(m.closers, efd)
			pulse = func() {
				m.pulses.Add(1)
				if err := efd.Signal(); err != nil {
					m.log.Printf("%s: irqfd: %v", name, err)
				}
			}
			vm := m.vm // Close clears m.vm after the devices are closed
			pulseFD = func(fd int) (func() error, error) {
				if err := vm.IRQFD(p.IRQ, fd); err != nil {
					return nil, err
				}
				return func() error { return vm.DeassignIRQFD(p.IRQ, fd) }, nil
			}
		} else {
			efd.Close()
		}
	}
	return setLevel, pulse, pulseFD
}

// readOnlyWindow is a device's MapReadOnly and UnmapReadOnly for its
// window: a memory slot of its own, taken when it first maps.
func (m *Machine) readOnlyWindow(p Placement) (mapRO func([]byte) error, unmapRO func() error) {
	var slot uint32
	mapRO = func(mem []byte) error {
		if uint64(len(mem)) != p.Size {
			return fmt.Errorf("mapping %d bytes over a window of %d", len(mem), p.Size)
		}
		if slot == 0 {
			slot = m.nextSlot.Add(1)
		}
		return m.vm.MapMemoryReadOnly(slot, p.Base, mem)
	}
	unmapRO = func() error {
		if slot == 0 {
			return nil
		}
		return m.vm.UnmapMemory(slot)
	}
	return mapRO, unmapRO
}
