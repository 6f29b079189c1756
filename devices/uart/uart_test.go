package uart

import (
	"bytes"
	"context"
	"testing"
	"time"
)

type irqRecorder struct{ levels []bool }

func (r *irqRecorder) set(l bool) { r.levels = append(r.levels, l) }
func (r *irqRecorder) level() bool {
	return len(r.levels) > 0 && r.levels[len(r.levels)-1]
}

func rd(u *UART, off uint64) byte {
	b := []byte{0xee}
	u.ReadMMIO(off, b)
	return b[0]
}

func wr(u *UART, off uint64, v byte) { u.WriteMMIO(off, []byte{v}) }

func TestTransmitGoesToOutput(t *testing.T) {
	var out bytes.Buffer
	u := New(&out, nil)
	for _, c := range []byte("hi\n") {
		wr(u, regData, c)
	}
	if out.String() != "hi\n" {
		t.Errorf("output %q", out.String())
	}
	if lsr := rd(u, regLSR); lsr&(lsrTHRE|lsrTEMT) != lsrTHRE|lsrTEMT || lsr&lsrDR != 0 {
		t.Errorf("LSR %#x: want THRE|TEMT and no data ready", lsr)
	}
}

func TestDivisorLatchDoesNotTransmit(t *testing.T) {
	var out bytes.Buffer
	u := New(&out, nil)
	wr(u, regLCR, lcrDLAB|0x03)
	wr(u, regData, 0x01)
	wr(u, regIER, 0x02)
	if rd(u, regData) != 0x01 || rd(u, regIER) != 0x02 {
		t.Errorf("divisor latch not kept")
	}
	wr(u, regLCR, 0x03)
	if out.Len() != 0 || rd(u, regIER) != 0 {
		t.Errorf("writing the divisor transmitted %q or changed IER", out.String())
	}
}

func TestScratchAndLoopbackProbe(t *testing.T) {
	u := New(nil, nil)
	wr(u, regSCR, 0x5a)
	if rd(u, regSCR) != 0x5a {
		t.Errorf("scratch register not kept")
	}
	// The 8250 driver's loopback check: MCR loop with OUT2|RTS.
	wr(u, regMCR, mcrLoop|mcrOut2|mcrRTS)
	if msr := rd(u, regMSR); msr&0xf0 != msrDCD|msrCTS {
		t.Errorf("MSR in loopback %#x, want DCD|CTS", msr)
	}
	wr(u, regData, 'x')
	if rd(u, regLSR)&lsrDR == 0 || rd(u, regData) != 'x' {
		t.Errorf("loopback did not return the byte")
	}
}

func TestTHREInterrupt(t *testing.T) {
	var irq irqRecorder
	u := New(nil, irq.set)
	if rd(u, regIIR)&0x0f != iirNoInt {
		t.Fatalf("interrupt pending at reset")
	}
	wr(u, regIER, ierTHRI)
	if !irq.level() || rd(u, regIIR)&0x0f != iirTHRI {
		t.Fatalf("enabling THRI with an empty THR must raise THRE")
	}
	// Reading IIR acknowledged it.
	if irq.level() || rd(u, regIIR)&0x0f != iirNoInt {
		t.Errorf("THRE still pending after IIR read")
	}
	wr(u, regData, 'a')
	if !irq.level() {
		t.Errorf("transmitting must raise THRE again")
	}
	wr(u, regIER, 0)
	if irq.level() {
		t.Errorf("masking THRI must lower the line")
	}
}

func TestReceiveInterruptAndFIFO(t *testing.T) {
	var irq irqRecorder
	u := New(nil, irq.set)
	wr(u, regIIR, fcrEnable) // FCR
	wr(u, regIER, ierRDI)
	if err := u.Feed(context.Background(), []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if !irq.level() {
		t.Fatalf("received data must raise the line")
	}
	if iir := rd(u, regIIR); iir != iirFIFO|iirRDI {
		t.Errorf("IIR %#x, want FIFO bits and RDI", iir)
	}
	if rd(u, regData) != 'o' || rd(u, regData) != 'k' {
		t.Errorf("received bytes out of order")
	}
	if irq.level() || rd(u, regLSR)&lsrDR != 0 {
		t.Errorf("line still high or DR set with an empty FIFO")
	}
	// FCR clear-RX empties the FIFO.
	u.Feed(context.Background(), []byte("zz"))
	wr(u, regIIR, fcrEnable|fcrClearRX)
	if rd(u, regLSR)&lsrDR != 0 {
		t.Errorf("FCR clear did not empty the receive FIFO")
	}
}

func TestFeedWaitsForRoom(t *testing.T) {
	u := New(nil, nil)
	big := bytes.Repeat([]byte{'q'}, rxFIFOSize+10)
	done := make(chan error)
	go func() { done <- u.Feed(context.Background(), big) }()
	select {
	case <-done:
		t.Fatal("Feed returned with more than a FIFO's worth queued")
	case <-time.After(50 * time.Millisecond):
	}
	for i := 0; i < 20; i++ {
		rd(u, regData)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := u.Feed(ctx, big); err == nil {
		t.Errorf("Feed on a full FIFO must give up when its context ends")
	}
}

func FuzzUARTRegisters(f *testing.F) {
	f.Add([]byte{1, 2, 0x02, 0, 0, 'a', 3, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var irq irqRecorder
		u := New(&bytes.Buffer{}, irq.set)
		// A cancelled context: Feed queues what fits and never waits.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint64(ops[i] % 10) // includes offsets past the window
			if ops[i]&0x80 != 0 {
				u.WriteMMIO(off, []byte{ops[i+1]})
			} else {
				rd(u, off)
			}
			u.Feed(ctx, []byte{ops[i+1]})
			if ops[i]&0x40 != 0 {
				u.SendBreak() // a full FIFO or a waiting break refuse it
			}
			if u.breakAt < 0 || u.breakAt > len(u.rx) || (u.breakAt > 0 && u.rx[u.breakAt-1] != 0) {
				t.Fatalf("break at %d of a %d-byte FIFO", u.breakAt, len(u.rx))
			}
			// The line must follow IIR: high exactly when something is
			// pending.
			pending := u.pendingIIR() != iirNoInt
			if irq.level() != pending {
				t.Fatalf("interrupt line %v but pending=%v", irq.level(), pending)
			}
			if len(u.rx) > rxFIFOSize {
				t.Fatalf("receive FIFO grew to %d", len(u.rx))
			}
		}
	})
}
