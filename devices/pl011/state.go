package pl011

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"
)

// State is a PL011's registers, receive FIFO and the host input waiting
// for room in it, as a machine's saved state holds them
// (vmm.StateDevice). Its JSON is the format: fields are added, never
// renamed.
type State struct {
	IBRD, FBRD, LCRH, CR, IFLS, IMSC, DMACR, ILPR uint32
	RSR, RIS                                      uint32
	IRQLevel                                      bool
	RX, Pending                                   []byte
}

// SaveState implements vmm.StateDevice.
func (u *UART) SaveState() ([]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return json.Marshal(State{
		IBRD: u.ibrd, FBRD: u.fbrd, LCRH: u.lcrh, CR: u.cr, IFLS: u.ifls, IMSC: u.imsc, DMACR: u.dmacr, ILPR: u.ilpr,
		RSR: u.rsr, RIS: u.ris, IRQLevel: u.irqLevel,
		RX: append([]byte(nil), u.rx...), Pending: append([]byte(nil), u.pending...),
	})
}

// RestoreState implements vmm.StateDevice: the registers as saved, and
// the interrupt line driven to the level it had.
func (u *UART) RestoreState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("PL011 state: %w", err)
	}
	if len(s.RX) > fifoDepth || len(s.Pending) > pendingSize {
		return fmt.Errorf("PL011 state: %d bytes in the FIFO and %d waiting, more than %d and %d", len(s.RX), len(s.Pending), fifoDepth, pendingSize)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ibrd, u.fbrd, u.lcrh, u.cr, u.ifls, u.imsc, u.dmacr, u.ilpr = s.IBRD, s.FBRD, s.LCRH, s.CR, s.IFLS, s.IMSC, s.DMACR, s.ILPR
	u.rsr, u.ris = s.RSR, s.RIS
	u.rx = append(u.rx[:0], s.RX...)
	u.pending = append(u.pending[:0], s.Pending...)
	u.irqLevel = s.IRQLevel
	u.irq(s.IRQLevel)
	return nil
}
