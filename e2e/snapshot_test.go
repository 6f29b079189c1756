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
		return harness.GoBuild(root, "./e2e/cmd/snapshottest", "arm64", filepath.Join(b.GuestDir, "snapshottest"))
	})
	extraScenarios = append(extraScenarios, func(host string) []scenario.Scenario {
		ss := []scenario.Scenario{{
			Name:    "snapshot",
			Program: "$GUEST/snapshottest",
			Args:    []string{"/gokvm", "$GUEST/Image", "$GUEST/initrd.cpio", "$WORK"},
			Timeout: 240 * time.Second,
		}}
		if host == "direct" {
			return ss // the full machine needs the emulated host's tap and peer
		}
		return append(ss, scenario.Scenario{
			Name:    "snapshot-full",
			Program: "$GUEST/snapshottest",
			Args:    []string{"full", "/gokvm", "$GUEST/Image", "$GUEST/initrd.cpio", "$WORK"},
			Before: [][]string{{tool, "loup", "-"}, {tool, "mktap", snapFullTap, snapFullHostIP + "/24"},
				{tool, "mktap", "tapsnapv", "169.254.10.1/24"}},
			Background: [][]string{{tool, "userpeer", snapFullPeerPort, snapFullPeerSeed, snapFullMiB},
				{tool, "vsockpeer", "44", "68", "1"}},
			Timeout: 300 * time.Second,
		})
	})
}

// The full machine's tap and user-network peer (e2e/cmd/snapshottest's
// full.go, which uses the same values).
const (
	snapFullTap      = "tapsnap"
	snapFullHostIP   = "169.254.9.1"
	snapFullPeerPort = "5111"
	snapFullPeerSeed = "66"
	snapFullMiB      = "4"
)

// TestSnapshotFullMachine: a guest with two vcpus, SVE, a PMU, a disk,
// NICs on a tap, on the user network and on vhost-net, and vhost-vsock,
// saved through the control socket
// while it reads its disk, finishes the read with the right checksum
// after the restore, has the same SVE vector length and a counting PMU,
// reaches the host through every NIC, and makes vsock connections both
// ways. On both GIC hosts.
func TestSnapshotFullMachine(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "snapshot-full")
		out := r.Output()
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "SNAPSHOTTEST figure") {
				t.Log(l)
			}
		}
		if r.Exit != 0 || strings.Contains(out, "SNAPSHOTTEST FAIL") || !strings.Contains(out, "SNAPSHOTTEST ok the user-network NIC") {
			t.Errorf("snapshottest full: exit %d:\n%s\nnotes:\n%s", r.Exit, out, strings.Join(r.Notes, "\n"))
		}
	})
}

// TestSnapshotRestore: a guest counting on two vcpus with a virtio-blk
// disk, saved while it runs
// and stopped, goes on counting from where it was when `gokvm run
// --restore` restores it, its clock not jumping by the time on disk, reads
// its disk whole through the restored virtio transport, and powers off
// with status 0; a state file cut short or edited is refused
// with status 2; and a gokvm run saved through its control socket
// (gokvm snapshot --stop) goes on the same way (e2e/cmd/snapshottest). On
// both GIC hosts.
func TestSnapshotRestore(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "snapshot")
			out := r.Output()
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "SNAPSHOTTEST figure") {
					t.Log(l)
				}
			}
			if r.Exit != 0 || strings.Contains(out, "SNAPSHOTTEST FAIL") {
				t.Errorf("snapshottest exit %d:\n%s", r.Exit, out)
			}
			for _, want := range []string{
				"SNAPSHOTTEST ok machine.Snapshot saved the running guest",
				"SNAPSHOTTEST ok the restored guest powered off with status 0",
				"SNAPSHOTTEST ok the restored guest went on counting from",
				"SNAPSHOTTEST ok the restored guest read its virtio-blk disk whole",
				"SNAPSHOTTEST ok the guest's clock went on from where it was saved",
				"SNAPSHOTTEST ok a state file cut is refused with status 2",
				"SNAPSHOTTEST ok a state file edited is refused with status 2",
				"SNAPSHOTTEST ok gokvm snapshot NAME FILE --stop saved the running VM",
				"SNAPSHOTTEST ok the VM saved with --stop ended as stopped",
				"SNAPSHOTTEST ok the VM saved through its control socket went on",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("snapshottest did not report %q", want)
				}
			}
		})
	}
}
