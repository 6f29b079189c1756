package uart

import (
	"bytes"
	"io"
	"testing"

	"github.com/gokvm/gokvm/devices/devstate/devstatetest"
)

// TestStateRoundTrip: a UART restored from another's saved state reads
// back the same registers and pending input, and raises its interrupt as
// the saved one had it.
func TestStateRoundTrip(t *testing.T) {
	var out bytes.Buffer
	a := New(&out, nil)
	a.WriteMMIO(regLCR, []byte{0x83})
	a.WriteMMIO(regData, []byte{0x0c}) // DLL
	a.WriteMMIO(regLCR, []byte{0x03})
	a.WriteMMIO(regIER, []byte{ierRDI})
	a.WriteMMIO(regSCR, []byte{0x5a})
	a.push([]byte("typed"))
	st, err := a.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	var level []bool
	b := New(&out, func(l bool) { level = append(level, l) })
	if err := b.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	if len(level) == 0 || !level[len(level)-1] {
		t.Errorf("the restored UART's line: %v, want raised (input waits, RDI on)", level)
	}
	for _, reg := range []uint64{regIER, regLCR, regMCR, regSCR, regLSR, regIIR} {
		ra, rb := make([]byte, 1), make([]byte, 1)
		a.ReadMMIO(reg, ra)
		b.ReadMMIO(reg, rb)
		if ra[0] != rb[0] {
			t.Errorf("register %d: saved %#x, restored %#x", reg, ra[0], rb[0])
		}
	}
	got := make([]byte, 0, 5)
	for i := 0; i < 5; i++ {
		c := make([]byte, 1)
		b.ReadMMIO(regData, c)
		got = append(got, c[0])
	}
	if string(got) != "typed" {
		t.Errorf("the restored FIFO reads %q", got)
	}
	if err := b.RestoreState([]byte(`{"RX":"` + string(bytes.Repeat([]byte("QUFB"), 200)) + `"}`)); err == nil {
		t.Error("a state with more input than the FIFO holds was restored")
	}
}

// TestStateRefusesNewer: a state with a field this gokvm does not know is
// refused, not half restored.
func TestStateRefusesNewer(t *testing.T) {
	a := New(io.Discard, nil)
	a.WriteMMIO(regSCR, []byte{0x5a})
	a.push([]byte("typed"))
	st, err := a.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	devstatetest.RefusesNewer(t, st, func() devstatetest.Restorer { return New(io.Discard, nil) })
}
