package vmm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoDevice: the core and its KVM and memory packages know no
// device and no architecture; devices and boards plug in through
// DeviceSpec and Board.
func TestCoreImportsNoDevice(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 3 {
		t.Fatalf("go list listed %d packages: %q", len(deps), out)
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/gokvm/gokvm/") && !strings.HasPrefix(p, "github.com/gokvm/gokvm/vmm") {
			t.Errorf("vmm depends on %s", p)
		}
	}
}
