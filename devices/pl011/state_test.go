package pl011

import (
	"bytes"
	"testing"

	"github.com/gokvm/gokvm/devices/devstate/devstatetest"
)

// TestStateRoundTrip: a PL011 restored from another's saved state reads
// back the same registers and input, and raises its interrupt as the
// saved one had it.
func TestStateRoundTrip(t *testing.T) {
	a, st := savedWithInput(t)
	var level []bool
	b := New(nil, func(l bool) { level = append(level, l) })
	if err := b.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	if len(level) == 0 || level[len(level)-1] != a.irqLevel {
		t.Errorf("the restored PL011's line: %v, want %v", level, a.irqLevel)
	}
	for _, reg := range []uint64{regIMSC, regFR, regCR, regLCRH, regIFLS} {
		ra, rb := make([]byte, 4), make([]byte, 4)
		a.ReadMMIO(reg, ra)
		b.ReadMMIO(reg, rb)
		if !bytes.Equal(ra, rb) {
			t.Errorf("register %#x: saved %x, restored %x", reg, ra, rb)
		}
	}
	got := make([]byte, 4)
	b.ReadMMIO(regDR, got)
	if got[0] != 'h' {
		t.Errorf("the restored FIFO's first byte: %q", got[0])
	}
	if err := b.RestoreState([]byte(`{"RX":"` + string(bytes.Repeat([]byte("QUFB"), 200)) + `"}`)); err == nil {
		t.Error("a state with more input than the FIFO holds was restored")
	}
}

// TestStateRefusesNewer: a state with a field this gokvm does not know is
// refused, not half restored.
func TestStateRefusesNewer(t *testing.T) {
	_, st := savedWithInput(t)
	devstatetest.RefusesNewer(t, st, func() devstatetest.Restorer { return New(nil, nil) })
}

// savedWithInput is a PL011 with its receive interrupt enabled and input
// waiting, and its saved state.
func savedWithInput(t *testing.T) (*UART, []byte) {
	t.Helper()
	a := New(nil, nil)
	a.WriteMMIO(regIMSC, []byte{intRX, 0, 0, 0})
	a.push([]byte("hello"))
	st, err := a.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}
