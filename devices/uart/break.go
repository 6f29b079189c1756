package uart

import "errors"

// lsrBI is LSR's break interrupt bit: the character at the head of the
// receive FIFO is the NUL of a break.
const lsrBI = 0x10

// Breaker is a console that can receive a break (the start of a magic
// SysRq on a Linux serial console).
type Breaker interface {
	SendBreak() error
}

var _ Breaker = (*UART)(nil)

// ErrBreakQueued and ErrRXFull say why a break could not be queued.
var (
	ErrBreakQueued = errors.New("uart: a break is already waiting in the receive FIFO")
	ErrRXFull      = errors.New("uart: the receive FIFO is full")
)

// SendBreak receives a break, as a 16550 does when its line is held low:
// a NUL character in the receive FIFO that LSR reports with BI (and a
// receiver line status interrupt) when it reaches the FIFO's head. Linux's
// 8250 driver takes a break on its console as the SysRq prefix: the next
// character received is the SysRq key.
func (u *UART) SendBreak() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.breakAt != 0 {
		return ErrBreakQueued
	}
	if len(u.rx) >= rxFIFOSize {
		return ErrRXFull
	}
	u.rx = append(u.rx, 0)
	u.breakAt = len(u.rx)
	if u.breakAt == 1 {
		u.lsrErrors |= lsrBI
	}
	u.updateIRQ()
	return nil
}

// breakMoved follows a queued break as the guest reads the FIFO's head:
// the break's NUL leaves with the read, or comes one closer, and BI is
// raised when it reaches the head.
func (u *UART) breakMoved() {
	if u.breakAt == 0 {
		return
	}
	u.breakAt--
	if u.breakAt == 1 {
		u.lsrErrors |= lsrBI
	}
}
