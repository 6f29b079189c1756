package pci

import "sync"

// irqState is a function's INTx pin: the device asserts it, the guest
// may disable it (Command's INTx Disable), and a function using MSI-X
// does not drive it (PCI Local Bus 3.0, 6.8.2). The line follows the
// three. Its lock is taken after the function's and the device's own:
// it calls nothing but the line's setter.
type irqState struct {
	mu       sync.Mutex
	setLevel func(bool)
	pin      bool // the device asserts INTx
	disabled bool // Command's INTx Disable
	msix     bool // MSI-X is enabled
	line     bool // what the interrupt line was last set to
}

// update drives the line as the state says; s.mu is held.
func (s *irqState) update() {
	line := s.pin && !s.disabled && !s.msix
	if line != s.line {
		s.line = line
		if s.setLevel != nil {
			s.setLevel(line)
		}
	}
}

func (s *irqState) set(f func()) {
	s.mu.Lock()
	f()
	s.update()
	s.mu.Unlock()
}

func (s *irqState) setDisabled(v bool) { s.set(func() { s.disabled = v }) }
func (s *irqState) setMSIX(v bool)     { s.set(func() { s.msix = v }) }

// asserted is the Interrupt Status bit: the device asserts INTx, whether
// or not it is disabled.
func (s *irqState) asserted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pin
}

// SetINTx asserts (true) or deasserts the function's INTA pin: a
// level-triggered interrupt, wired to the placement's interrupt. It
// reaches the guest unless the guest disabled INTx or enabled MSI-X.
func (f *Function) SetINTx(level bool) { f.irq.set(func() { f.irq.pin = level }) }
