package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

// The hostile guest (e2e/hostile) is /init of an initramfs of its own: no
// virtio driver is loaded, and it drives the disks' virtio-mmio windows
// itself through /dev/mem.
const hostileInitrd = "hostile.cpio"

// hostileSteps are the steps it runs, in order (e2e/hostile/main.go).
var hostileSteps = []string{
	"driverok-cleared", "queuenum-0", "queuenum-5", "rings-outside-ram", "legacy-pfn-running",
	"desc-loop", "indirect-loop", "ro-write", "wild-writes", "reset-two-vcpus",
}

// The disks: a writable scratch disk (the first window) and a read-only
// golden one (the second) that the guest has no legal way to write.
const (
	hostileScratchSeed, hostileScratchMiB = 71, 2
	hostileGoldenSeed, hostileGoldenMiB   = 72, 1
)

func init() {
	extraPrepare = append(extraPrepare, prepareHostile)
	extraScenarios = append(extraScenarios, hostileScenarios)
}

func prepareHostile(b *harness.Build) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(b.Dir, "hostile")
	if err := harness.GoBuild(root, "./e2e/hostile", "arm64", bin); err != nil {
		return err
	}
	return harness.WriteInitramfs(filepath.Join(b.GuestDir, hostileInitrd), map[string]string{"init": bin})
}

// hostileArgs is a gokvm run of the hostile guest with its two disks, two
// vcpus (it resets a device from both at once), and a timeout as a safety
// net; params go on the kernel command line.
func hostileArgs(params, timeout string, extra ...string) []string {
	args := []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/" + hostileInitrd,
		"-p", strings.TrimSpace("console=ttyS0 quiet panic=-1 " + params), "-c", "2", "--timeout", timeout,
		"-d", "$WORK/scratch.img", "-d", "$WORK/golden.img,ro"}
	return append(args, extra...)
}

// hostileDisks are the commands that make the two disks before a run,
// and note their SHA-256 after it.
func hostileDisks() (before, after [][]string) {
	before = [][]string{
		{tool, "mkrand", "$WORK/scratch.img", fmt.Sprint(hostileScratchSeed), fmt.Sprint(hostileScratchMiB)},
		{tool, "mkrand", "$WORK/golden.img", fmt.Sprint(hostileGoldenSeed), fmt.Sprint(hostileGoldenMiB)},
	}
	after = [][]string{{tool, "sha", "$WORK/scratch.img"}, {tool, "sha", "$WORK/golden.img"}}
	return before, after
}

func hostileScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		// The helper tool and taps are the emulated host's; nothing here
		// depends on the interrupt controller, so one host is enough.
		return nil
	}
	before, after := hostileDisks()
	return []scenario.Scenario{
		{Name: "hostile", Args: hostileArgs("", "60s"), Before: before, After: after, Timeout: 90 * time.Second},
		{Name: "hostile-legacy", Args: hostileArgs("", "60s", "--virtio-transport", "mmio-legacy"),
			Before: before, After: after, Timeout: 90 * time.Second},
	}
}

var hostileRead = regexp.MustCompile(`HOSTILE-READ (\w+) (\w+) status=(\d+) used=(\d+) sha=([0-9a-f]{64})`)

// checkHostile asserts what every hostile run must show: gokvm survived
// every step and the guest powered off; the legal reads before and after
// read the right data; the golden disk is unchanged; gokvm logged the
// broken device.
func checkHostile(t *testing.T, r scenario.Result) {
	t.Helper()
	out := r.Output()
	// What gokvm did at each step, for -v.
	var seen strings.Builder
	for _, l := range r.Lines {
		if strings.HasPrefix(l.Text, "HOSTILE-") {
			fmt.Fprintf(&seen, "%6d ms %s\n", l.MS, l.Text)
		}
	}
	t.Logf("exit %d after %d ms; the guest:\n%sgokvm's stderr:\n%s", r.Exit, r.ElapsedMS, seen.String(), r.Stderr)
	if r.Exit != machine.ExitPowerOff {
		t.Errorf("gokvm exit status %d, want %d (powered off)", r.Exit, machine.ExitPowerOff)
	}
	for _, bad := range []string{"panic", "fatal error"} {
		if strings.Contains(r.Stderr, bad) {
			t.Errorf("gokvm's stderr has %q", bad)
		}
	}
	if !strings.Contains(r.Stderr, "needs a reset") {
		t.Errorf("gokvm did not log a device needing a reset")
	}
	var last string
	for _, s := range hostileSteps {
		if !strings.Contains(out, "HOSTILE-STEP "+s+" done") {
			t.Errorf("step %s did not finish", s)
			continue
		}
		last = s
	}
	if last != hostileSteps[len(hostileSteps)-1] {
		for _, s := range hostileSteps {
			if strings.Contains(out, "HOSTILE-STEP "+s+" start") && !strings.Contains(out, "HOSTILE-STEP "+s+" done") {
				t.Errorf("gokvm stopped during step %s", s)
			}
		}
	}
	if strings.Contains(out, "HOSTILE-ERROR") {
		t.Errorf("the hostile guest reported errors")
	}
	if !strings.Contains(out, "HOSTILE-POWEROFF") {
		t.Errorf("the hostile guest did not get to power off")
	}
	want := map[string]string{
		"scratch": pattern.SHA256(pattern.Bytes(hostileScratchSeed, hostileScratchMiB<<20)[:4096]),
		"golden":  hostileGoldenFirstPage(),
	}
	got := map[string]bool{}
	for _, m := range hostileRead.FindAllStringSubmatch(out, -1) {
		when, dev, status, used, sum := m[1], m[2], m[3], m[4], m[5]
		if status != "0" || used != "1" || sum != want[dev] {
			t.Errorf("legal read %s of %s: status %s, %s used, SHA-256 of the first page %s, want status 0, 1 used, %s",
				when, dev, status, used, sum, want[dev])
			continue
		}
		got[when+" "+dev] = true
	}
	for _, k := range []string{"before scratch", "before golden", "after scratch", "after golden"} {
		if !got[k] {
			t.Errorf("no good legal read %s", k)
		}
	}
	if !strings.Contains(out, "HOSTILE-ROWRITE status=1 used=1") {
		t.Errorf("a write to the read-only disk did not fail with VIRTIO_BLK_S_IOERR")
	}
	checkHostileDisks(t, r)
}

// checkHostileDisks: the golden disk is what it was made, before the run
// and after it.
func checkHostileDisks(t *testing.T, r scenario.Result) {
	t.Helper()
	shas, _ := hostFacts(r)
	golden := pattern.SHA256(pattern.Bytes(hostileGoldenSeed, hostileGoldenMiB<<20))
	if g := shas["golden.img"]; len(g) != 2 || g[0] != golden || g[1] != golden {
		t.Errorf("golden.img changed (or was not checked): SHA-256 before and after %v, want %s", g, golden)
	}
	if s := shas["scratch.img"]; len(s) == 2 && s[0] != s[1] {
		t.Logf("scratch.img changed during the run (no legal write was issued to it): %v", s)
	}
}

// hostileGoldenFirstPage is the SHA-256 of the golden disk's first page,
// what a legal read of it gives.
func hostileGoldenFirstPage() string {
	return pattern.SHA256(pattern.Bytes(hostileGoldenSeed, hostileGoldenMiB<<20)[:4096])
}

// TestHostileGuest: a guest with no virtio driver drives the disks itself
// through /dev/mem over the modern transport (virtio-mmio version 2) and
// breaks every rule; gokvm survives it all and the guest powers off.
func TestHostileGuest(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		checkHostile(t, result(t, h, "hostile"))
	})
}

// TestHostileGuestLegacy: the same over the legacy transport (version 1),
// where a running queue can also be moved with QueuePFN.
func TestHostileGuestLegacy(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "hostile-legacy")
		if !strings.Contains(r.Output(), "HOSTILE-PROBE golden magic=0x74726976 version=1") {
			t.Errorf("the golden disk is not on the legacy transport")
		}
		checkHostile(t, r)
	})
}
