// Package pl011 emulates an ARM PrimeCell PL011 UART on MMIO, the UART of
// QEMU's virt board, so that Linux's amba-pl011 driver (console=ttyAMA0,
// earlycon=pl011,ADDR) drives it. Registers follow the PL011 TRM (DDI
// 0183): what the guest transmits leaves at once, so the transmit FIFO is
// always empty; received bytes wait in a FIFO of 32 entries (1 with the
// FIFOs off) and raise the receive and receive-timeout interrupts.
package pl011

import (
	"context"
	"io"
	"sync"

	"github.com/gokvm/gokvm/devices/consoleio"
)

// Size is the MMIO window: 4 KiB, with the identification registers at
// its end, where Linux's AMBA bus reads them.
const Size = 0x1000

// ClockHz is the UART's reference clock (QEMU's virt board's 24 MHz
// apb-pclk); the baud rate divisors are kept and otherwise ignored.
const ClockHz = 24_000_000

// PeriphID and CellID are what the identification registers read: an ARM
// PL011 (part 0x011, designer 0x41) and the PrimeCell cell ID.
const (
	PeriphID = 0x0004_1011
	CellID   = 0xB105_F00D
)

// Register offsets.
const (
	regDR     = 0x000
	regRSR    = 0x004 // RSR (read) / ECR (write)
	regFR     = 0x018
	regILPR   = 0x020
	regIBRD   = 0x024
	regFBRD   = 0x028
	regLCRH   = 0x02c
	regCR     = 0x030
	regIFLS   = 0x034
	regIMSC   = 0x038
	regRIS    = 0x03c
	regMIS    = 0x040
	regICR    = 0x044
	regDMACR  = 0x048
	regIDBase = 0xfe0 // PeriphID0..3, CellID0..3, one byte per word
)

// Flag register bits.
const (
	frRXFE = 1 << 4
	frRXFF = 1 << 6
	frTXFE = 1 << 7
)

// Line control and control register bits.
const (
	lcrhFEN  = 1 << 4
	crUARTEN = 1 << 0
	crLBE    = 1 << 7
	crTXE    = 1 << 8
	crRXE    = 1 << 9
)

// Interrupt bits (RIS, MIS, IMSC, ICR).
const (
	intRX  = 1 << 4
	intTX  = 1 << 5
	intRT  = 1 << 6
	intOE  = 1 << 10
	intAll = 0x7ff

	rsrOE = 1 << 3
)

// fifoDepth is the receive FIFO's depth with the FIFOs on (LCR_H.FEN).
const fifoDepth = 32

// pendingSize bounds the host's input held outside the FIFO while the
// FIFO is full or the receiver off (before the guest's driver turns it
// on): the input pump keeps reading, so a console escape typed meanwhile
// is seen, and waits only once this much is pending.
const pendingSize = 4096

// rxTriggers are the receive interrupt's FIFO levels for IFLS.RXIFLSEL
// (1/8, 1/4, 1/2, 3/4, 7/8 full); other values are reserved and read as
// 1/2.
var rxTriggers = [8]int{4, 8, 16, 24, 28, 16, 16, 16}

// UART is one PL011. Its methods are safe for concurrent use by vcpu
// goroutines and the input pump.
type UART struct {
	mu  sync.Mutex
	out io.Writer
	irq func(level bool)

	ibrd, fbrd, lcrh, cr, ifls, imsc, dmacr, ilpr uint32
	rsr                                           uint32 // receive errors (OE)
	ris                                           uint32 // latched interrupts: TX, OE
	irqLevel                                      bool

	rx      []byte
	pending []byte        // host input not yet in the FIFO
	rxRoom  chan struct{} // signalled when pending input moved on
}

// New makes a PL011 that writes what the guest transmits to out and
// drives its level-triggered interrupt through irq.
func New(out io.Writer, irq func(level bool)) *UART {
	if irq == nil {
		irq = func(bool) {}
	}
	if out == nil {
		out = io.Discard
	}
	return &UART{
		out:     out,
		irq:     irq,
		cr:      crTXE | crRXE, // the TRM's reset value
		ifls:    0x12,          // both FIFOs at 1/2
		rx:      make([]byte, 0, fifoDepth),
		pending: make([]byte, 0, pendingSize),
		rxRoom:  make(chan struct{}, 1),
	}
}

// ReadMMIO implements vmm.MMIODevice. An access narrower than a word (as
// an earlycon with byte access makes) reads the bytes of the register word
// at its offset.
func (u *UART) ReadMMIO(offset uint64, data []byte) {
	clear(data)
	if len(data) == 0 || offset >= Size {
		return
	}
	u.mu.Lock()
	v := u.readReg(offset &^ 3)
	u.updateIRQ()
	u.mu.Unlock()
	v >>= 8 * (offset & 3)
	for i := range data {
		if i < 4 {
			data[i] = byte(v >> (8 * i))
		}
	}
}

// WriteMMIO implements vmm.MMIODevice. A write at an offset that is not a
// register's start is ignored.
func (u *UART) WriteMMIO(offset uint64, data []byte) {
	if len(data) == 0 || offset >= Size || offset&3 != 0 {
		return
	}
	var v uint32
	for i := 0; i < len(data) && i < 4; i++ {
		v |= uint32(data[i]) << (8 * i)
	}
	u.mu.Lock()
	u.writeReg(offset, v)
	u.updateIRQ()
	u.mu.Unlock()
}

func (u *UART) readReg(reg uint64) uint32 {
	switch reg {
	case regDR:
		if len(u.rx) == 0 {
			return 0
		}
		b := u.rx[0]
		u.rx = append(u.rx[:0], u.rx[1:]...)
		u.refill()
		return uint32(b)
	case regRSR:
		return u.rsr
	case regFR:
		fr := uint32(frTXFE) // the byte left at once
		if len(u.rx) == 0 {
			fr |= frRXFE
		}
		if len(u.rx) >= u.depth() {
			fr |= frRXFF
		}
		return fr
	case regILPR:
		return u.ilpr
	case regIBRD:
		return u.ibrd
	case regFBRD:
		return u.fbrd
	case regLCRH:
		return u.lcrh
	case regCR:
		return u.cr
	case regIFLS:
		return u.ifls
	case regIMSC:
		return u.imsc
	case regRIS:
		return u.rawStatus()
	case regMIS:
		return u.rawStatus() & u.imsc
	case regDMACR:
		return u.dmacr
	}
	if reg >= regIDBase && reg < Size {
		i := (reg - regIDBase) / 4
		id := uint64(CellID)<<32 | PeriphID
		return uint32(id>>(8*i)) & 0xff
	}
	return 0
}

func (u *UART) writeReg(reg uint64, v uint32) {
	switch reg {
	case regDR:
		b := byte(v)
		if u.cr&crLBE != 0 {
			if u.push([]byte{b}) == 0 {
				u.rsr |= rsrOE
				u.ris |= intOE
			}
		} else {
			// A console that cannot be written (a closed pipe) must
			// not stop the guest: the byte is dropped.
			_, _ = u.out.Write([]byte{b})
		}
		// The transmit FIFO emptied through its trigger level at
		// once.
		u.ris |= intTX
	case regRSR: // ECR: any write clears the errors
		u.rsr = 0
	case regILPR:
		u.ilpr = v & 0xff
	case regIBRD:
		u.ibrd = v & 0xffff
	case regFBRD:
		u.fbrd = v & 0x3f
	case regLCRH:
		if (u.lcrh^v)&lcrhFEN != 0 && len(u.rx) > 1 {
			// Turning the FIFOs off leaves room for one byte.
			u.rx = u.rx[:1]
		}
		u.lcrh = v & 0xff
		u.refill()
	case regCR:
		u.cr = v & 0xff87 // bits 3..6 are reserved
		u.refill()
	case regIFLS:
		u.ifls = v & 0x3f
	case regIMSC:
		u.imsc = v & intAll
	case regICR:
		u.ris &^= v
	case regDMACR:
		u.dmacr = v & 0x7
	}
}

// depth is how many bytes the receive FIFO holds.
func (u *UART) depth() int {
	if u.lcrh&lcrhFEN != 0 {
		return fifoDepth
	}
	return 1
}

// accepting reports whether the receiver is on.
func (u *UART) accepting() bool { return u.cr&crUARTEN != 0 && u.cr&crRXE != 0 }

// rawStatus is RIS: the latched interrupts and the receive interrupts,
// which follow the FIFO: RX while it is at or above its trigger level,
// RT while it holds anything (the receive timeout expires at once, as no
// more bytes come while the guest looks), so clearing them with ICR lasts
// only until the FIFO is read empty.
func (u *UART) rawStatus() uint32 {
	ris := u.ris
	if n := len(u.rx); n > 0 {
		ris |= intRT
		trigger := 1
		if u.lcrh&lcrhFEN != 0 {
			trigger = rxTriggers[(u.ifls>>3)&7]
		}
		if n >= trigger {
			ris |= intRX
		}
	}
	return ris
}

func (u *UART) updateIRQ() {
	level := u.rawStatus()&u.imsc != 0
	if level != u.irqLevel {
		u.irqLevel = level
		u.irq(level)
	}
}

// push appends what fits in the receive FIFO and returns how much did.
func (u *UART) push(b []byte) int {
	n := min(len(b), u.depth()-len(u.rx))
	if n <= 0 {
		return 0
	}
	u.rx = append(u.rx, b[:n]...)
	return n
}

// refill moves pending input into the FIFO while the receiver is on and
// the FIFO has room, and wakes a Feed waiting for room.
func (u *UART) refill() {
	if len(u.pending) == 0 || !u.accepting() {
		return
	}
	n := u.push(u.pending)
	if n == 0 {
		return
	}
	u.pending = append(u.pending[:0], u.pending[n:]...)
	select {
	case u.rxRoom <- struct{}{}:
	default:
	}
}

// Feed queues input for the guest, waiting while more than pendingSize
// bytes wait for the receive FIFO (full, or the receiver off). It returns
// early with ctx's error when ctx ends.
func (u *UART) Feed(ctx context.Context, b []byte) error {
	return consoleio.Feed(ctx, b, u.queueInput, u.rxRoom)
}

// queueInput takes what fits of b into the pending input, and the FIFO
// what it can hold of that.
func (u *UART) queueInput(b []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := min(len(b), pendingSize-len(u.pending))
	u.pending = append(u.pending, b[:n]...)
	u.refill()
	u.updateIRQ()
	return n
}

// Pump copies r to the guest until r ends or ctx is done.
func (u *UART) Pump(ctx context.Context, r io.Reader) error { return consoleio.Pump(ctx, u, r) }
