package vmm

import (
	"fmt"
	"sync"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/hashicorp/go-multierror"
)

// mapWindow is DeviceEnv.MapWindow for the device placed at p.
func (m *Machine) mapWindow(name string, p Placement) func(base, size uint64, dev MMIODevice) (Window, error) {
	return func(base, size uint64, dev MMIODevice) (Window, error) {
		if p.DynamicSize == 0 || size == 0 || base < p.DynamicBase || size > p.DynamicSize || base-p.DynamicBase > p.DynamicSize-size {
			return nil, fmt.Errorf("%w: %s at %#x+%#x is outside %#x+%#x", ErrWindowRefused, name, base, size, p.DynamicBase, p.DynamicSize)
		}
		id, err := m.bus.Map(name, base, size, dev)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWindowRefused, err)
		}
		return &window{m: m, id: id, base: base, size: size}, nil
	}
}

// window is a Window: a mapping on the bus and the ioeventfds registered
// in it.
type window struct {
	m          *Machine
	id         uint64
	base, size uint64

	mu      sync.Mutex
	watches []watch
	closed  bool
}

type watch struct {
	gpa    uint64
	length uint32
	value  uint64
	fd     int
}

// WatchWrite implements Window.
func (w *window) WatchWrite(n EventFDNotification, off uint64, length uint32, value uint64) error {
	if off >= w.size || uint64(length) > w.size-off {
		return fmt.Errorf("watching %d bytes at %#x: outside the window's %#x bytes", length, off, w.size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("watching a closed window")
	}
	wt := watch{gpa: w.base + off, length: length, value: value, fd: n.EventFD()}
	if err := w.m.vm.IOEventFD(wt.gpa, wt.length, wt.value, wt.fd); err != nil {
		return err
	}
	w.watches = append(w.watches, wt)
	return nil
}

// Close implements Window: the watches go first, so that no write to
// where the window was signals a notification afterwards.
func (w *window) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var errs *multierror.Error
	for _, wt := range w.watches {
		if err := w.m.vm.DeassignIOEventFD(wt.gpa, wt.length, wt.value, wt.fd); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	w.watches = nil
	w.m.bus.Unmap(w.id)
	return errs.ErrorOrNil()
}

// newNotification is DeviceEnv.NewNotification. Its wakeups are counted
// for --stats, as those of WatchWrite's notifications are.
func (m *Machine) newNotification() (EventFDNotification, error) {
	if m.vm.CheckExtension(kvm.CapIOEventFD) <= 0 {
		return nil, ErrUnsupported
	}
	efd, err := kvm.NewEventFD()
	if err != nil {
		return nil, err
	}
	return countedNotification{efd: efd, wakeups: &m.wakeups}, nil
}
