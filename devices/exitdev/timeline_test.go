package exitdev

import (
	"testing"
	"time"
)

// TestTimeline: each step of the init is stamped when it first reaches
// the device, in order; a step not reached stays zero, and a step
// repeated keeps its first time.
func TestTimeline(t *testing.T) {
	d := New()
	w32(d, RegState, StateWarm)
	r32(d, RegCmdLen) // no command yet: not seen
	if tl := d.Timeline(); tl != (Timeline{}) {
		t.Fatalf("steps stamped before any was reached: %+v", tl)
	}
	if err := d.SetCommand([]byte(`{"command":["true"]}`)); err != nil {
		t.Fatal(err)
	}
	steps := []func(){
		func() { r32(d, RegCmdLen) },
		func() { w32(d, RegState, StateReady) },
		func() { w32(d, RegState, StateStarted) },
		func() { w32(d, RegState, StateExited) },
		func() { w32(d, RegStatus, StatusValid|3) },
	}
	for _, step := range steps {
		time.Sleep(time.Millisecond)
		step()
	}
	tl := d.Timeline()
	at := []time.Time{tl.Given, tl.Seen, tl.Ready, tl.Started, tl.Exited, tl.Reported}
	for i := range at {
		if at[i].IsZero() {
			t.Fatalf("step %d not stamped: %+v", i, tl)
		}
		if i > 0 && !at[i].After(at[i-1]) {
			t.Errorf("step %d at %v, not after step %d at %v", i, at[i], i-1, at[i-1])
		}
	}
	time.Sleep(time.Millisecond)
	for _, step := range steps {
		step()
	}
	if again := d.Timeline(); again != tl {
		t.Errorf("steps repeated moved their stamps: %+v, then %+v", tl, again)
	}

	half := New()
	w32(half, RegState, StateStarted)
	if tl := half.Timeline(); tl.Started.IsZero() || !tl.Given.IsZero() || !tl.Exited.IsZero() || !tl.Reported.IsZero() {
		t.Errorf("a device told only that the command started: %+v", tl)
	}
}

// TestTimelineRestored: a device restored from a state whose steps were
// all reached starts an empty timeline: those steps happened in another
// process, by another clock.
func TestTimelineRestored(t *testing.T) {
	d := New()
	w32(d, RegState, StateWarm)
	if err := d.SetCommand([]byte("cmd")); err != nil {
		t.Fatal(err)
	}
	r32(d, RegCmdLen)
	w32(d, RegState, StateReady)
	w32(d, RegState, StateStarted)
	r := restore(t, saved(t, d))
	if tl := r.Timeline(); tl != (Timeline{}) {
		t.Errorf("a restored device's timeline: %+v", tl)
	}
}
