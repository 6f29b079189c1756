package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, vsockScenarios)
}

// heldCID is a CID another process holds on /dev/vhost-vsock (the host
// tool claims it as a VM does) when gokvm asks for it.
const heldCID = "4242"

// vsockScenarios: the data path is tested in the vhost scenario's boot;
// here gokvm is refused a CID in use, which needs no boot.
func vsockScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		return nil
	}
	return []scenario.Scenario{{
		Name:   "vsock-cid-in-use",
		Args:   bootArgs("poweroff", "--vsock", heldCID),
		Before: [][]string{{tool, "holdcid", heldCID, "30"}},
	}}
}

var (
	hostVsockRecv  = regexp.MustCompile(`HOST-VSOCK-RECV ([0-9a-f]{64}) (\d+)`)
	guestVsockRecv = regexp.MustCompile(`GUEST-VSOCK-RECV ([0-9a-f]{64}) (\d+)`)
)

// TestVsockBothWays: 16 MiB from the guest to the host's CID 2, and 16 MiB
// from a host program to the guest's CID, arrive intact.
func TestVsockBothWays(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := vhostResult(t, h, "vhost")
		notes := strings.Join(r.Notes, "\n")
		want := pattern.SHA256(pattern.Bytes(99, 16<<20))
		m := hostVsockRecv.FindStringSubmatch(notes)
		if m == nil || m[1] != want || m[2] != "16777216" {
			t.Errorf("guest to host: the host received %v, want 16 MiB with SHA-256 %s", m, want)
		}
		want = pattern.SHA256(pattern.Bytes(55, 16<<20))
		g := guestVsockRecv.FindStringSubmatch(r.Output())
		if g == nil || g[1] != want || g[2] != "16777216" {
			t.Errorf("host to guest: the guest received %v, want 16 MiB with SHA-256 %s", g, want)
		}
		t.Logf("%s; %s", firstLine(r.Output(), "GUEST-VSOCK-SENT"), firstLine(r.Output(), "GUEST-VSOCK-RECV"))
	})
}

// TestVsockCIDInUse: a CID another VM holds is a usage error naming it.
func TestVsockCIDInUse(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := vhostResult(t, h, "vsock-cid-in-use")
		if !strings.Contains(strings.Join(r.Notes, "\n"), "HOST-HOLDCID "+heldCID+" held") {
			t.Fatalf("the host tool did not claim CID %s: %v", heldCID, r.Notes)
		}
		if r.Exit != machine.ExitUsage || !strings.Contains(r.Stderr, "vsock CID "+heldCID+" is in use") {
			t.Errorf("exit %d, stderr %q; want %d and a message that CID %s is in use", r.Exit, r.Stderr, machine.ExitUsage, heldCID)
		}
	})
}
