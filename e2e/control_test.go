package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

func init() {
	extraPrepare = append(extraPrepare, func(b *harness.Build) error {
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		return harness.GoBuild(root, "./e2e/cmd/controltest", "arm64", filepath.Join(b.GuestDir, "controltest"))
	})
	extraScenarios = append(extraScenarios, func(host string) []scenario.Scenario {
		if host == "gicv2" {
			return nil // the control socket does not depend on the GIC
		}
		return []scenario.Scenario{{
			Name:    "control",
			Program: "$GUEST/controltest",
			Args:    []string{"/gokvm", "$GUEST/Image", "$GUEST/initrd.cpio", "$WORK"},
			Timeout: 280 * time.Second,
		}}
	})
}

// TestControlSocket: two detached VMs driven through gokvm list, pause,
// resume, console, debug, stop and wait (e2e/cmd/controltest).
func TestControlSocket(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "control")
		out := r.Output()
		if r.Exit != 0 || strings.Contains(out, "CONTROLTEST FAIL") {
			t.Errorf("controltest exit %d:\n%s", r.Exit, out)
		}
		for _, want := range []string{
			"list --json shows both VMs",
			"uid 1000 cannot connect to vm-a's socket",
			"gokvm console replayed what vm-a printed before",
			"a second console is refused naming the first",
			"the guest echoed what gokvm console sent",
			"vm-a printed nothing in 3s paused",
			"vm-a's counter went on after resume",
			"debug --dump describes both vcpus",
			"the guest's SysRq handler answered on its console",
			"vm-a's disk holds what it wrote after stop",
			"run --detach without --name returned 0 and printed the name it made up",
			"wait returned the second VM's status after it powered off",
			"the state directory holds nothing after both ended",
		} {
			if !strings.Contains(out, "CONTROLTEST ok "+want) {
				t.Errorf("controltest did not report %q", want)
			}
		}
	})
}
