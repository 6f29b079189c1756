package e2e

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, func(host string) []scenario.Scenario {
		if host == "gicv2" {
			return nil // nothing here depends on the interrupt controller
		}
		// fdatasync on /dev/full fails (EINVAL): the final flush of a
		// disk that cannot be flushed.
		return []scenario.Scenario{{Name: "flush-fails", Args: bootArgs("poweroff", "-d", "/dev/full")}}
	})
}

// TestFailedFinalFlush: when the disks cannot be flushed at exit, gokvm
// says which disk and does not report the guest's power-off as success.
func TestFailedFinalFlush(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "flush-fails")
		if !strings.Contains(r.Output(), "GUEST-POWEROFF") {
			t.Fatalf("the guest did not get to power off")
		}
		if r.Exit != machine.ExitFailure {
			t.Errorf("exit status %d, want %d", r.Exit, machine.ExitFailure)
		}
		if !strings.Contains(r.Stderr, "disk /dev/full") || !strings.Contains(r.Stderr, "closing the machine") {
			t.Errorf("stderr does not name the disk whose flush failed:\n%s", r.Stderr)
		}
	})
}
