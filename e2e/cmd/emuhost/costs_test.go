package main

import (
	"testing"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/vmm/kvmstats"
)

func TestBracket(t *testing.T) {
	got := bracket([]phase{emptyPhase, {"seqread", "blk=vda", "bench-seqread:vda:64"}})
	if want := "phase:empty:n=1,phase-end,phase:seqread:blk=vda,bench-seqread:vda:64,phase-end"; got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
}

// TestPhaseCosts: a phase's cost is the VMM's counters between its two
// samples, with the guest's own counts beside them; a counter that one
// sample lacks (debugfs could not be read) is no figure.
func TestPhaseCosts(t *testing.T) {
	r := scenario.Result{
		Lines: []scenario.Line{
			{Text: "GUEST-PHASE-BEGIN seqwrite"}, {Text: "GUEST-PHASE-END"},
			{Text: "GUEST-PHASE seqwrite requests 128 irq-virtio 130 irq-timer 3 irq-other 20"},
			{Text: "GUEST-BENCH seqwrite vda 80.0 MB/s 64 MiB"},
			{Text: "GUEST-PHASE-BEGIN randread"}, {Text: "GUEST-PHASE-END"},
			{Text: "[   12.3] some kernel message GUEST-PHASE randread requests 2000 irq-virtio 2001 irq-timer 9 irq-other 4"},
		},
		Samples: []scenario.Sample{
			{Line: "GUEST-PHASE-BEGIN seqwrite", Counters: kvmstats.Counters{"kvm.exits": 100, "host.user_us": 10_000}},
			{Line: "GUEST-PHASE-END", Counters: kvmstats.Counters{"kvm.exits": 500, "host.user_us": 30_000}},
			{Line: "GUEST-PHASE-BEGIN randread", Counters: kvmstats.Counters{"host.user_us": 40_000}, Err: "KVM statistics: permission denied"},
			{Line: "GUEST-PHASE-END", TookMS: 300, Counters: kvmstats.Counters{"kvm.exits": 900, "host.user_us": 90_000}},
		},
	}
	costs, problems := phaseCosts(r)
	want := map[string]kvmstats.Counters{
		"seqwrite": {"kvm.exits": 400, "host.user_us": 20_000, "guest.requests": 128, "guest.irq_virtio": 130, "guest.irq_timer": 3, "guest.irq_other": 20},
		"randread": {"host.user_us": 50_000, "guest.requests": 2000, "guest.irq_virtio": 2001, "guest.irq_timer": 9, "guest.irq_other": 4},
	}
	if len(costs) != len(want) {
		t.Fatalf("phases %v, want %v", costs, want)
	}
	for name, w := range want {
		got := costs[name]
		if len(got) != len(w) {
			t.Errorf("%s: %v, want %v", name, got, w)
			continue
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s: %s %d, want %d", name, k, got[k], v)
			}
		}
	}
	if len(problems) != 2 || problems[0] != "KVM statistics: permission denied" || problems[1] != `reading the counters on "GUEST-PHASE-END" took 300 ms` {
		t.Errorf("problems %q", problems)
	}
}

func TestFormatCost(t *testing.T) {
	for v, want := range map[float64]string{1234.4: "1234", 12.34: "12.3", 1.234: "1.23", -0.5: "-0.50", -25: "-25.0"} {
		if got := formatCost(v); got != want {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
	}
}
