package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/kprofile"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// TestPhaseStacks: a phase's stacks are those of the sample on its end
// marker; an end marker without a begin is no phase.
func TestPhaseStacks(t *testing.T) {
	r := scenario.Result{Samples: []scenario.Sample{
		{Line: "GUEST-PHASE-END", KernelStacks: kprofile.Stacks{"vcpu;x": 9}},
		{Line: "GUEST-PHASE-BEGIN to-host", KernelStacks: kprofile.Stacks{"vcpu;before": 5}},
		{Line: "GUEST-PHASE-END", KernelStacks: kprofile.Stacks{"vcpu;a;b": 2}, KernelLost: 3},
	}}
	got := phaseStacks(r)
	if p := got["to-host"]; len(got) != 1 || len(p.stacks) != 1 || p.stacks["vcpu;a;b"] != 2 || p.lost != 3 {
		t.Errorf("phaseStacks = %v, want to-host: vcpu;a;b 2, 3 lost", got)
	}
}

// TestKernelCostAdd: inclusive counts a function once per stack even when
// it recurs, self only the leaf; stacks of other kinds are left out.
func TestKernelCostAdd(t *testing.T) {
	k := &kernelCost{requests: 4, inclusive: map[string]uint64{}, self: map[string]uint64{}}
	k.add(kprofile.Stacks{
		"vcpu;el0_svc;f;g;f": 3,
		"vcpu;el0_svc;g":     1,
		"other;el0_svc;h":    100,
		"vhost;h":            7,
	}, "vcpu", "vhost")
	if k.total != 11 {
		t.Errorf("total %d, want 11", k.total)
	}
	for f, want := range map[string]uint64{"el0_svc": 4, "f": 3, "g": 4, "h": 7} {
		if k.inclusive[f] != want {
			t.Errorf("inclusive %s = %d, want %d", f, k.inclusive[f], want)
		}
	}
	for f, want := range map[string]uint64{"f": 3, "g": 1, "h": 7, "el0_svc": 0} {
		if k.self[f] != want {
			t.Errorf("self %s = %d, want %d", f, k.self[f], want)
		}
	}
	if got, want := k.perRequest(k.inclusive["g"]), float64(kprofile.Period.Microseconds()); got != want {
		t.Errorf("perRequest = %v µs, want %v", got, want)
	}
	if got := (&kernelCost{}).perRequest(5); got != 0 {
		t.Errorf("perRequest with no requests = %v, want 0", got)
	}
}

// TestPrintKernelTableRanks: the table ranks functions by their worst cost
// per request under either VMM, leaving out bare addresses and the frames
// every system call passes through.
func TestPrintKernelTableRanks(t *testing.T) {
	k := func(requests uint64, st kprofile.Stacks) *kernelCost {
		c := &kernelCost{requests: requests, inclusive: map[string]uint64{}, self: map[string]uint64{}}
		c.add(st, "other")
		return c
	}
	costs := map[string]*kernelCost{
		"gokvm":   k(10, kprofile.Stacks{"other;el0_svc;invoke_syscall;__arm64_sys_nanosleep": 50, "other;el0_svc;__arm64_sys_writev;0x1234": 20}),
		"kvmtool": k(10, kprofile.Stacks{"other;el0_svc;__arm64_sys_writev": 30}),
	}
	out := captureStdout(t, func() { printKernelTable("to-host", []string{"gokvm", "kvmtool"}, costs) })
	rows := []string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(strings.Trim(l, "| ")); len(f) > 0 && strings.HasPrefix(l, "| ") && f[0] != "function" && f[0] != "all" {
			rows = append(rows, f[0])
		}
	}
	if want := []string{"__arm64_sys_nanosleep", "__arm64_sys_writev"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("rows %q, want %q\n%s", rows, want, out)
	}
	if !strings.Contains(out, "20000 / 20000") { // 50 samples of 4 ms over 10 requests
		t.Errorf("nanosleep's cost not 20000 µs a request:\n%s", out)
	}
}

// captureStdout returns what f printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stdout = old
	w.Close()
	return string(<-done)
}
