package uart

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"
)

// State is a UART's registers and receive FIFO, as a machine's saved
// state holds them (vmm.StateDevice). Its JSON is the format: fields are
// added, never renamed.
type State struct {
	IER, LCR, MCR, SCR, FCR byte
	DLL, DLM                byte
	LSRErrors               byte
	BreakAt                 int
	THRPending              bool
	IRQLevel                bool
	RX                      []byte
}

// SaveState implements vmm.StateDevice.
func (u *UART) SaveState() ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return json.Marshal(State{
		IER: u.ier, LCR: u.lcr, MCR: u.mcr, SCR: u.scr, FCR: u.fcr, DLL: u.dll, DLM: u.dlm,
		LSRErrors: u.lsrErrors, BreakAt: u.breakAt, THRPending: u.thrPending, IRQLevel: u.irqLevel,
		RX: append([]byte(nil), u.rx...),
	})
}

// RestoreState implements vmm.StateDevice: the registers as saved, and
// the interrupt line driven to the level it had.
func (u *UART) RestoreState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("16550 state: %w", err)
	}
	if len(s.RX) > rxFIFOSize || s.BreakAt < 0 || s.BreakAt > len(s.RX) {
		return fmt.Errorf("16550 state: %d bytes of input with a break at %d, more than a FIFO of %d holds", len(s.RX), s.BreakAt, rxFIFOSize)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ier, u.lcr, u.mcr, u.scr, u.fcr, u.dll, u.dlm = s.IER, s.LCR, s.MCR, s.SCR, s.FCR, s.DLL, s.DLM
	u.lsrErrors, u.breakAt, u.thrPending = s.LSRErrors, s.BreakAt, s.THRPending
	u.rx = append(u.rx[:0], s.RX...)
	u.irqLevel = s.IRQLevel
	u.irq(s.IRQLevel)
	return nil
}
