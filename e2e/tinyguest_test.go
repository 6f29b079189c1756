package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// The core's KVM-level tests (vmm/tinyguest*_test.go) need KVM on arm64
// and skip anywhere else, so here they run where it is: the vmm test
// binary, built for arm64, goes into /guest and runs as a scenario of its
// own in each emulated host (or directly on an arm64 host).

func init() {
	extraPrepare = append(extraPrepare, buildVmmTest)
	extraScenarios = append(extraScenarios, tinyGuestScenarios)
}

func buildVmmTest(b *harness.Build) error { return b.AddTestBinary("./vmm", "vmm.test") }

func tinyGuestScenarios(string) []scenario.Scenario {
	return []scenario.Scenario{{
		Name:    "tinyguests",
		Program: "$GUEST/vmm.test",
		// The stage-2 fault benchmark runs once too, so that its own
		// check (a fault a page) holds in CI; make bench times it.
		Args: []string{"-test.v", "-test.run", "TinyGuest", "-test.bench", "TinyGuestStage2Fault", "-test.benchtime", "1x",
			"-test.timeout", "120s"},
		// Beyond -test.timeout, so a hang ends with the test binary's
		// own goroutine dump.
		Timeout: 150 * time.Second,
	}}
}

// tinyGuestTests must each have run and passed; a test added to vmm
// without being listed here fails TestTinyGuests until it is.
var tinyGuestTests = []string{
	"TestTinyGuestPowerOff",
	"TestTinyGuestReset",
	"TestTinyGuestStopped",
	"TestTinyGuestGCWhileInGuest",
	"TestTinyGuestIdleNotSignalled",
	"TestTinyGuestTimeout",
	"TestTinyGuestUndecodableMMIO",
	"TestTinyGuestMMIOStoreReachesDevice",
	"TestTinyGuestKVMStats",
	"TestTinyGuestDeviceTreeNode",
	"TestTinyGuestPSCICPUOn",
	"TestTinyGuestDumpVcpus",
	"TestTinyGuestOnVcpus",
	"TestTinyGuestPauseResume",
	"TestTinyGuestPauseBeforeRun",
	"TestTinyGuestPauseErrors",
	"TestTinyGuestStopWhilePaused",
	"TestTinyGuestSaveRestore",
	"TestTinyGuestFlatKernel",
	"TestTinyGuestFirmware",
	"TestTinyGuestReadOnlyWindow",
	"TestTinyGuestRunTimeWindow",
}

var testVerdict = regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): (TestTinyGuest\w+) \(`)

func TestTinyGuests(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "tinyguests")
			out := r.Output()
			if r.Exit != 0 {
				t.Errorf("vmm.test exited with status %d", r.Exit)
			}
			// A skip here would mean the emulated host offers no KVM:
			// it must not pass for the tests having run.
			if strings.Contains(out, "--- SKIP") {
				t.Errorf("tests skipped where KVM/arm64 should be available")
			}
			passed := map[string]bool{}
			for _, m := range testVerdict.FindAllStringSubmatch(out, -1) {
				if m[1] == "PASS" {
					passed[m[2]] = true
				}
				if !slices.Contains(tinyGuestTests, m[2]) {
					t.Errorf("%s ran but is not listed in tinyGuestTests", m[2])
				}
			}
			for _, name := range tinyGuestTests {
				if !passed[name] {
					t.Errorf("no \"--- PASS: %s\" in the output", name)
				}
			}
			if got := harness.FaultBenchResults.FindAllStringSubmatch(out, -1); len(got) != 2 {
				t.Errorf("BenchmarkTinyGuestStage2Fault: %d results, want 2 (host page absent and present)", len(got))
			} else {
				t.Logf("a stage-2 fault:\n%s\n%s", got[0][0], got[1][0])
			}
		})
	}
}
