package e2e

import (
	"path/filepath"
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

func buildVmmTest(b *harness.Build) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	return harness.GoTestBuild(root, "./vmm", filepath.Join(b.GuestDir, "vmm.test"))
}

func tinyGuestScenarios(string) []scenario.Scenario {
	return []scenario.Scenario{{
		Name:    "tinyguests",
		Program: "$GUEST/vmm.test",
		Args:    []string{"-test.v", "-test.run", "TinyGuest", "-test.timeout", "120s"},
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
		})
	}
}
