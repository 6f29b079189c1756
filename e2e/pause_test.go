package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

func init() {
	extraPrepare = append(extraPrepare, func(b *harness.Build) error {
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		return harness.GoBuild(root, "./e2e/cmd/pausetest", "arm64", filepath.Join(b.GuestDir, "pausetest"))
	})
	extraScenarios = append(extraScenarios, func(string) []scenario.Scenario {
		return []scenario.Scenario{{
			Name:    "pause",
			Program: "$GUEST/pausetest",
			Args:    []string{"$GUEST/Image", "$GUEST/initrd.cpio", "$WORK/pause.img"},
		}}
	})
}

// TestPauseThroughGoAPI: a guest paused for 3 s through the Go API prints
// nothing and makes no MMIO exit, then carries on; a disk read in flight
// across a pause completes with the right data (e2e/cmd/pausetest).
func TestPauseThroughGoAPI(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "pause")
			out := r.Output()
			if r.Exit != 0 || strings.Contains(out, "PAUSETEST FAIL") {
				t.Errorf("pausetest exit %d:\n%s", r.Exit, out)
			}
			for _, want := range []string{
				"PAUSETEST ok the guest printed nothing in 3s paused during the counter",
				"PAUSETEST ok no MMIO exit in 3s paused during the counter",
				"PAUSETEST ok the counter carried on to 50 after Resume",
				"PAUSETEST ok the guest printed nothing in 3s paused during the disk read",
				"PAUSETEST ok no MMIO exit in 3s paused during the disk read",
				"PAUSETEST ok the disk read across the pause",
				"PAUSETEST ok the guest powered off after both pauses",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("pausetest did not report %q", want)
				}
			}
		})
	}
}
