package vmm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/vmm"
)

// quiet is how long a paused guest is watched for any sign of running.
const quiet = 300 * time.Millisecond

// counter stores an ever-increasing count to the test device: each store
// is an MMIO exit, so a guest that runs is seen at once.
func counter() *tinyguest.Asm {
	var a tinyguest.Asm
	a.Mov(dev, testDevBase).Mov(2, 0).
		Label("loop").Word(tinyguest.AddImm(2, 2, 1), tinyguest.StrX(2, dev, 0x10)).B("loop")
	return &a
}

// startCounting runs a counter guest until it has stored a few times.
func startCounting(t *testing.T) (*tinyVM, <-chan runResult, context.CancelFunc) {
	t.Helper()
	tv := newTinyVM(t, 1, counter())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := tv.start(ctx)
	waitFor(t, "the guest to count", 10*time.Second, func() bool { return tv.dev.Count() >= 10 })
	return tv, ch, cancel
}

// stays checks that the paused guest neither stores nor exits for quiet,
// and that Run goes on.
func stays(t *testing.T, tv *tinyVM, ch <-chan runResult) {
	t.Helper()
	n, exits := tv.dev.Count(), tv.m.Stats().MMIOExits
	time.Sleep(quiet)
	if n2 := tv.dev.Count(); n2 != n {
		t.Errorf("the paused guest stored %d times in %v", n2-n, quiet)
	}
	if e := tv.m.Stats().MMIOExits; e != exits {
		t.Errorf("%d MMIO exits while paused", e-exits)
	}
	select {
	case r := <-ch:
		t.Fatalf("Run returned while paused: %q, %v", r.outcome, r.err)
	default:
	}
}

func TestTinyGuestPauseResume(t *testing.T) {
	tv, ch, cancel := startCounting(t)
	if err := tv.m.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if !tv.m.Paused() {
		t.Errorf("Paused() is false after Pause")
	}
	stays(t, tv, ch)
	var dump strings.Builder
	tv.m.DumpVcpus(&dump)
	if !strings.Contains(dump.String(), "(paused)") || !strings.Contains(dump.String(), "vcpu 0: runnable pc=") {
		t.Errorf("a dump of the paused machine:\n%s", dump.String())
	}
	n := tv.dev.Count()
	if err := tv.m.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	waitFor(t, "the resumed guest to count on", 10*time.Second, func() bool { return tv.dev.Count() >= n+10 })
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

// Paused before Run, the vcpus never enter the guest until Resume.
func TestTinyGuestPauseBeforeRun(t *testing.T) {
	tv := newTinyVM(t, 1, counter())
	if err := tv.m.Pause(); err != nil {
		t.Fatalf("Pause before Run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := tv.start(ctx)
	stays(t, tv, ch)
	if s := tv.m.Stats(); s.MMIOExits != 0 || s.ToFirstRun != 0 || tv.dev.Count() != 0 {
		t.Errorf("the guest ran while paused from the start: %+v, %d stores", s, tv.dev.Count())
	}
	if err := tv.m.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	waitFor(t, "the resumed guest to count", 10*time.Second, func() bool { return tv.dev.Count() >= 10 })
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

func TestTinyGuestPauseErrors(t *testing.T) {
	tv, ch, cancel := startCounting(t)
	for _, step := range []struct {
		name string
		do   func() error
		want error
	}{
		{"Resume without Pause", tv.m.Resume, vmm.ErrNotPaused},
		{"Pause", tv.m.Pause, nil},
		{"a second Pause", tv.m.Pause, vmm.ErrPaused},
		{"Resume", tv.m.Resume, nil},
		{"a second Resume", tv.m.Resume, vmm.ErrNotPaused},
	} {
		if err := step.do(); !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", step.name, err, step.want)
		}
	}
	cancel()
	expect(t, wait(t, ch, 5*time.Second), vmm.OutcomeStopped)
}

// A machine stopped while paused ends at once, without running the
// guest again.
func TestTinyGuestStopWhilePaused(t *testing.T) {
	tv, ch, cancel := startCounting(t)
	if err := tv.m.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	n := tv.dev.Count()
	cancel()
	r := wait(t, ch, 2*time.Second)
	expect(t, r, vmm.OutcomeStopped)
	if n2 := tv.dev.Count(); n2 != n {
		t.Errorf("the guest stored %d times after the paused machine was stopped", n2-n)
	}
}
