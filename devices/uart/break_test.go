package uart

import (
	"context"
	"errors"
	"testing"
)

// readChar reads one character the way Linux's 8250 driver does: LSR,
// then RBR when LSR says data is ready. It reports whether LSR said BI.
func readChar(u *UART) (b byte, brk, ok bool) {
	lsr := rd(u, regLSR)
	if lsr&lsrDR == 0 {
		return 0, false, false
	}
	return rd(u, regData), lsr&lsrBI != 0, true
}

func TestBreakIsANULWithBIThenTheKey(t *testing.T) {
	var irq irqRecorder
	u := New(nil, irq.set)
	wr(u, regIER, ierRDI|ierRLSI)
	if err := u.SendBreak(); err != nil {
		t.Fatal(err)
	}
	if !irq.level() {
		t.Fatal("a break raised no interrupt")
	}
	if iir := rd(u, regIIR) &^ iirFIFO; iir != iirRLSI {
		t.Errorf("IIR %#x after a break: want receiver line status %#x", iir, iirRLSI)
	}
	if err := u.Feed(context.Background(), []byte("h")); err != nil {
		t.Fatal(err)
	}
	b, brk, ok := readChar(u)
	if !ok || b != 0 || !brk {
		t.Fatalf("first character %#x break %v ready %v: want a NUL with BI", b, brk, ok)
	}
	b, brk, ok = readChar(u)
	if !ok || b != 'h' || brk {
		t.Fatalf("second character %q break %v ready %v: want 'h' without BI", b, brk, ok)
	}
	if _, _, ok := readChar(u); ok {
		t.Error("data ready after the break and key were read")
	}
}

func TestBreakBehindQueuedInputWaitsForTheHead(t *testing.T) {
	u := New(nil, nil)
	if err := u.Feed(context.Background(), []byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := u.SendBreak(); err != nil {
		t.Fatal(err)
	}
	if err := u.SendBreak(); !errors.Is(err, ErrBreakQueued) {
		t.Errorf("a second break while one waits: %v, want ErrBreakQueued", err)
	}
	var got []byte
	var brks []bool
	for {
		b, brk, ok := readChar(u)
		if !ok {
			break
		}
		got, brks = append(got, b), append(brks, brk)
	}
	if string(got) != "ab\x00" || brks[0] || brks[1] || !brks[2] {
		t.Errorf("read %q with BI %v: want \"ab\\x00\" with BI only on the NUL", got, brks)
	}
	if err := u.SendBreak(); err != nil {
		t.Errorf("a break after the last was read: %v", err)
	}
}

func TestBreakClearedWithTheFIFO(t *testing.T) {
	u := New(nil, nil)
	if err := u.SendBreak(); err != nil {
		t.Fatal(err)
	}
	rd(u, regLSR) // BI is reported once
	wr(u, regIIR, fcrEnable|fcrClearRX)
	if err := u.SendBreak(); err != nil {
		t.Errorf("a break after the FIFO was cleared: %v", err)
	}
	if lsr := rd(u, regLSR); lsr&lsrBI == 0 {
		t.Errorf("LSR %#x: want BI for the new break", lsr)
	}
}

func TestBreakOnAFullFIFO(t *testing.T) {
	u := New(nil, nil)
	if err := u.Feed(context.Background(), make([]byte, rxFIFOSize)); err != nil {
		t.Fatal(err)
	}
	if err := u.SendBreak(); !errors.Is(err, ErrRXFull) {
		t.Errorf("a break on a full FIFO: %v, want ErrRXFull", err)
	}
}
