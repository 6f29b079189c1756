package main

import (
	"fmt"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// prepareFault puts the vmm package's test binary, whose tiny guests the
// fault workload runs, into the guest directory.
func (c *benchConfig) prepareFault() error { return c.build.AddTestBinary("./vmm", "vmm.test") }

// faultWorkload times what a guest's first touch of a page costs on this
// host with small host pages (vmm's BenchmarkTinyGuestStage2Fault): the
// price of each of the stage-2 faults a restored machine takes, about
// 2000 in a warm sandbox run of `true` where a boot, on 2 MiB pages,
// takes about 400 (gokvm only: it is KVM's cost).
func (c *benchConfig) faultWorkload() (*workload, []scenario.Scenario) {
	const col = "gokvm"
	perFault := func(variant string) func(scenario.Result) (float64, bool) {
		return func(r scenario.Result) (float64, bool) {
			v, ok := harness.FaultBenchNS(r.Output(), variant)
			return v / 1000, ok && r.Exit == 0
		}
	}
	w := &workload{
		title: fmt.Sprintf("a guest's first store to a page, small host pages, 8 MiB of them a run (vmm's BenchmarkTinyGuestStage2Fault, tiny guests), %d runs", c.rounds),
		runs:  map[string][]string{},
		figs: []figure{
			{"KVM's stage-2 fault, the host page present (a prefaulted restore)", "us", false, perFault("host-page-present")},
			{"the same with the host's page fault (an anonymous page zero-filled)", "us", false, perFault("host-page-absent")},
		},
		columns: []string{col},
	}
	var ss []scenario.Scenario
	for i := 0; i < c.rounds; i++ {
		s := scenario.Scenario{Name: fmt.Sprintf("fault-%d", i), Program: "$GUEST/vmm.test",
			Args:    []string{"-test.run", "^$", "-test.bench", "TinyGuestStage2Fault", "-test.benchtime", "1x"},
			Timeout: 5 * time.Minute}
		ss = append(ss, s)
		w.runs[col] = append(w.runs[col], s.Name)
	}
	return w, ss
}
