// Package uart emulates a 16550A-compatible serial port on MMIO, the
// "ns16550a" of kvmtool's ARM machines, so that Linux's 8250 driver
// (console=ttyS0, earlycon=uart8250,mmio,ADDR) drives it.
package uart

import (
	"context"
	"io"
	"sync"

	"github.com/gokvm/gokvm/devices/consoleio"
)

// Size is the MMIO window of one UART: eight byte-wide registers.
const Size = 8

// ClockHz is the input clock advertised in the device tree; the baud rate
// divisor is accepted and ignored, as the console runs as fast as it can.
const ClockHz = 1843200

// Register offsets.
const (
	regData = 0 // RBR (read) / THR (write); DLL when LCR.DLAB
	regIER  = 1 // DLM when LCR.DLAB
	regIIR  = 2 // IIR (read) / FCR (write)
	regLCR  = 3
	regMCR  = 4
	regLSR  = 5
	regMSR  = 6
	regSCR  = 7
)

// Register bits.
const (
	ierRDI  = 0x01 // received data available
	ierTHRI = 0x02 // transmitter holding register empty
	ierRLSI = 0x04 // receiver line status

	iirNoInt = 0x01
	iirTHRI  = 0x02
	iirRDI   = 0x04
	iirRLSI  = 0x06
	iirFIFO  = 0xc0

	fcrEnable  = 0x01
	fcrClearRX = 0x02

	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOut1 = 0x04
	mcrOut2 = 0x08
	mcrLoop = 0x10

	lsrDR   = 0x01
	lsrOE   = 0x02
	lsrTHRE = 0x20
	lsrTEMT = 0x40

	msrCTS = 0x10
	msrDSR = 0x20
	msrRI  = 0x40
	msrDCD = 0x80
)

// rxFIFOSize is larger than a real 16550's 16 bytes: the driver drains
// while LSR.DR is set, and a deeper FIFO means fewer interrupts per paste.
const rxFIFOSize = 256

// UART is one serial port. Its methods are safe for concurrent use by vcpu
// goroutines and the input pump.
type UART struct {
	mu  sync.Mutex
	out io.Writer
	irq func(level bool)

	ier, lcr, mcr, scr, fcr byte
	dll, dlm                byte
	lsrErrors               byte // OE, BI, cleared by reading LSR
	// breakAt is 1 + the index in rx of the NUL a break received (see
	// SendBreak), 0 for none.
	breakAt    int
	thrPending bool // THRE interrupt raised and not yet acknowledged
	irqLevel   bool

	rx     []byte
	rxRoom chan struct{} // signalled when the guest drains the FIFO
}

// New makes a UART that writes what the guest transmits to out and raises
// its interrupt through irq (level-triggered: true asserts the line).
func New(out io.Writer, irq func(level bool)) *UART {
	if irq == nil {
		irq = func(bool) {}
	}
	return &UART{
		out:    out,
		irq:    irq,
		mcr:    mcrOut2,
		rx:     make([]byte, 0, rxFIFOSize),
		rxRoom: make(chan struct{}, 1),
	}
}

// ReadMMIO implements vmm.MMIODevice. Wider accesses read the register at
// their offset in the low byte.
func (u *UART) ReadMMIO(offset uint64, data []byte) {
	clear(data)
	if len(data) == 0 || offset >= Size {
		return
	}
	u.mu.Lock()
	data[0] = u.readReg(byte(offset))
	u.updateIRQ()
	u.mu.Unlock()
}

// WriteMMIO implements vmm.MMIODevice.
func (u *UART) WriteMMIO(offset uint64, data []byte) {
	if len(data) == 0 || offset >= Size {
		return
	}
	u.mu.Lock()
	u.writeReg(byte(offset), data[0])
	u.updateIRQ()
	u.mu.Unlock()
}

func (u *UART) readReg(reg byte) byte {
	dlab := u.lcr&lcrDLAB != 0
	switch reg {
	case regData:
		if dlab {
			return u.dll
		}
		if len(u.rx) == 0 {
			return 0
		}
		b := u.rx[0]
		u.rx = append(u.rx[:0], u.rx[1:]...)
		u.breakMoved()
		u.signalRoom()
		return b
	case regIER:
		if dlab {
			return u.dlm
		}
		return u.ier
	case regIIR:
		iir := u.pendingIIR()
		if iir == iirTHRI {
			// Reading IIR acknowledges a THRE interrupt.
			u.thrPending = false
		}
		if u.fcr&fcrEnable != 0 {
			iir |= iirFIFO
		}
		return iir
	case regLCR:
		return u.lcr
	case regMCR:
		return u.mcr
	case regLSR:
		lsr := byte(lsrTHRE|lsrTEMT) | u.lsrErrors
		if len(u.rx) > 0 {
			lsr |= lsrDR
		}
		u.lsrErrors = 0
		return lsr
	case regMSR:
		if u.mcr&mcrLoop != 0 {
			var msr byte
			if u.mcr&mcrRTS != 0 {
				msr |= msrCTS
			}
			if u.mcr&mcrDTR != 0 {
				msr |= msrDSR
			}
			if u.mcr&mcrOut1 != 0 {
				msr |= msrRI
			}
			if u.mcr&mcrOut2 != 0 {
				msr |= msrDCD
			}
			return msr
		}
		return msrDCD | msrDSR | msrCTS
	case regSCR:
		return u.scr
	}
	return 0
}

func (u *UART) writeReg(reg, v byte) {
	dlab := u.lcr&lcrDLAB != 0
	switch reg {
	case regData:
		if dlab {
			u.dll = v
			return
		}
		if u.mcr&mcrLoop != 0 {
			u.pushRX([]byte{v})
		} else if u.out != nil {
			// A console that cannot be written (closed pipe) must not
			// stop the guest: the byte is dropped.
			_, _ = u.out.Write([]byte{v})
		}
		// The byte left at once, so the holding register is empty again.
		u.thrPending = true
	case regIER:
		if dlab {
			u.dlm = v
			return
		}
		old := u.ier
		u.ier = v & 0x0f
		if old&ierTHRI == 0 && u.ier&ierTHRI != 0 {
			u.thrPending = true
		}
	case regIIR: // FCR
		if v&fcrClearRX != 0 {
			u.rx = u.rx[:0]
			u.breakAt = 0
			u.signalRoom()
		}
		u.fcr = v & (fcrEnable | 0xc0)
	case regLCR:
		u.lcr = v
	case regMCR:
		u.mcr = v & 0x1f
	case regSCR:
		u.scr = v
	}
}

// signalRoom wakes a Feed waiting for room in the receive FIFO.
func (u *UART) signalRoom() {
	select {
	case u.rxRoom <- struct{}{}:
	default:
	}
}

// pendingIIR is the highest-priority pending interrupt, without FIFO bits.
func (u *UART) pendingIIR() byte {
	switch {
	case u.ier&ierRLSI != 0 && u.lsrErrors != 0:
		return iirRLSI
	case u.ier&ierRDI != 0 && len(u.rx) > 0:
		return iirRDI
	case u.ier&ierTHRI != 0 && u.thrPending:
		return iirTHRI
	}
	return iirNoInt
}

func (u *UART) updateIRQ() {
	level := u.pendingIIR() != iirNoInt
	if level != u.irqLevel {
		u.irqLevel = level
		u.irq(level)
	}
}

// pushRX appends to the receive FIFO, setting OE for what does not fit.
func (u *UART) pushRX(b []byte) int {
	n := min(len(b), rxFIFOSize-len(u.rx))
	u.rx = append(u.rx, b[:n]...)
	return n
}

// Feed queues input for the guest, waiting while the receive FIFO is full.
// It returns early with ctx's error when ctx ends.
func (u *UART) Feed(ctx context.Context, b []byte) error {
	return consoleio.Feed(ctx, b, u.push, u.rxRoom)
}

// push takes what fits of b into the receive FIFO.
func (u *UART) push(b []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.pushRX(b)
	u.updateIRQ()
	return n
}

// Pump copies r to the guest until r ends or ctx is done.
func (u *UART) Pump(ctx context.Context, r io.Reader) error { return consoleio.Pump(ctx, u, r) }
