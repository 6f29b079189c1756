package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
)

// The warm sandbox scenarios run in this order in one emulated host: the
// first boots and saves the machine, the next restore it; then the saved
// state is cut, and a kernel is copied and touched, each of which must
// make a run save a new machine rather than reuse one.

const (
	warmDir    = "/tmp/gokvm-warm-e2e"
	warmKernel = "/tmp/gokvm-warm-e2e-Image"
)

func init() {
	extraScenarios = append(extraScenarios, warmScenarios)
}

func warmArgs(kernel string, args ...string) []string {
	return append([]string{"sandbox", "-k", kernel, "--modules", sandboxModules, "--warm", warmDir, "--stats"}, args...)
}

func warmScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		return nil // as the other sandbox scenarios
	}
	return []scenario.Scenario{
		{Name: "sandbox-warm-save", Before: [][]string{{tool, "rmall", warmDir}},
			Args: warmArgs("$GUEST/Image", "--", "sh", "-c", "echo first; exit 3")},
		{Name: "sandbox-warm-restore", Args: warmArgs("$GUEST/Image", "--", "sh", "-c", "echo second; date +%s; exit 4")},
		{Name: "sandbox-warm-stdin", Args: warmArgs("$GUEST/Image", "--", "sh", "-c", `echo ready; read line; echo "got $line"; pwd`),
			Stdin: "hello from stdin\n", StdinAfter: "ready", Timeout: 150 * time.Second},
		{Name: "sandbox-warm-cut", Before: [][]string{{tool, "cutfiles", warmDir, ".state"}},
			Args: warmArgs("$GUEST/Image", "--", "true")},
		{Name: "sandbox-warm-after-cut", Args: warmArgs("$GUEST/Image", "--", "true")},
		{Name: "sandbox-warm-new-kernel", Before: [][]string{{tool, "copy", "$GUEST/Image", warmKernel}},
			Args: warmArgs(warmKernel, "--", "true")},
		{Name: "sandbox-warm-touched-kernel", Before: [][]string{{tool, "touch", warmKernel}},
			Args: warmArgs(warmKernel, "--", "true")},
	}
}

const warmSaved = "--warm: saved the booted machine"

// TestSandboxWarm: `sandbox --warm` saves the booted machine on its first
// run and restores it on the next, which run their own commands with
// their own statuses, output, input and clock; a cut state file, a new
// kernel and a touched one each save a new machine.
func TestSandboxWarm(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		saves := func(r scenario.Result, want bool) {
			t.Helper()
			if got := strings.Contains(r.Stderr, warmSaved); got != want {
				t.Errorf("%s: saved a machine: %v, want %v\nstderr:\n%s", r.Name, got, want, r.Stderr)
			}
		}
		r := sandboxResult(t, h, "sandbox-warm-save", 3)
		saves(r, true)
		if out := r.Output(); out != "first\n" {
			t.Errorf("the saving run's output %q", out)
		}
		r = sandboxResult(t, h, "sandbox-warm-restore", 4)
		saves(r, false)
		out := r.Output()
		if !strings.HasPrefix(out, "second\n") {
			t.Errorf("the restored run's output %q", out)
		}
		// The guest's clock is the host's, not the saved one's (nor
		// 1970): within a few minutes of this test's, as the emulated
		// host's clock is this machine's.
		if m := regexp.MustCompile(`(?m)^([0-9]+)$`).FindStringSubmatch(out); m == nil {
			t.Errorf("no date in %q", out)
		} else if secs, _ := strconv.ParseInt(m[1], 10, 64); time.Since(time.Unix(secs, 0)).Abs() > time.Hour {
			t.Errorf("the restored guest's clock says %v", time.Unix(secs, 0))
		}
		if m := regexp.MustCompile(`first KVM_RUN ([0-9.]+) ms`).FindStringSubmatch(r.Stderr); m != nil {
			t.Logf("%s: start to first KVM_RUN of the restored machine: %s ms", h, m[1])
		}
		checkTimeline(t, r)
		checkRootReads(t, r)
		checkStartup(t, r.Stderr, "warm key made", "saved machine opened", "checked", "VM created", "RAM mapped",
			"vcpus and GIC made", "devices made", "state restored", "run called", "system call filter installed", "first KVM_RUN")
		r = sandboxResult(t, h, "sandbox-warm-stdin", 0)
		saves(r, false)
		// The first restore recorded its working set; this one
		// prefaulted it, and the guest ran as before.
		if !regexp.MustCompile(`--warm: prefaulted the working set \([1-9][0-9]* pages read, [1-9][0-9]* written\)`).MatchString(r.Stderr) {
			t.Errorf("the second restore prefaulted no working set:\n%s", r.Stderr)
		}
		// The prefault runs beside the restore, and ends before the
		// first KVM_RUN.
		checkStartup(t, r.Stderr, "state restored", "run called", "system call filter installed", "first KVM_RUN")
		checkStartup(t, r.Stderr, "RAM mapped", "working set prefaulted", "first KVM_RUN")
		if out := r.Output(); !strings.HasPrefix(out, "ready\ngot hello from stdin\n/") {
			t.Errorf("the restored run with input: output %q", out)
		}
		r = sandboxResult(t, h, "sandbox-warm-cut", 0)
		saves(r, true)
		if !strings.Contains(r.Stderr, "saving the machine again") {
			t.Errorf("a cut state file was not named:\n%s", r.Stderr)
		}
		r = sandboxResult(t, h, "sandbox-warm-after-cut", 0)
		saves(r, false)
		// The saved guest read the shell (the emulated host's busybox,
		// which is `true` too) into its page cache before the save: the
		// restored run execs it without reading it over 9p again.
		checkRootReads(t, r)
		saves(sandboxResult(t, h, "sandbox-warm-new-kernel", 0), true)
		saves(sandboxResult(t, h, "sandbox-warm-touched-kernel", 0), true)
	})
}

// cachedReadLimit is the most a restored run of busybox may read over the
// root share: its busybox is 1.8 MB, and an exec of it reads hundreds of
// KiB when its pages are not in the saved guest's page cache.
const cachedReadLimit = 64 << 10

// checkRootReads: a restored run of a busybox command read (next to)
// nothing of the host's files over the root share (guestinit.WarmFiles).
func checkRootReads(t *testing.T, r scenario.Result) {
	t.Helper()
	m := regexp.MustCompile(`stats: 9p gokvm-root: ([0-9]+) reads, ([0-9]+) bytes read`).FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Errorf("%s: no --stats line of the root share:\n%s", r.Name, r.Stderr)
		return
	}
	if n, _ := strconv.ParseUint(m[2], 10, 64); n > cachedReadLimit {
		t.Errorf("%s: read %d bytes over the root share (%s reads), more than %d: the saved guest did not hold busybox", r.Name, n, m[1], cachedReadLimit)
	}
	t.Logf("%s: %s", r.Name, m[0])
}

// checkTimeline: a warm run's --stats timeline has every step of the
// init, from the command given to its status, in that order.
func checkTimeline(t *testing.T, r scenario.Result) {
	t.Helper()
	m := regexp.MustCompile(`the sandbox init, ms after start: command given ([0-9.]+), command seen ([0-9.]+), ready ([0-9.]+), started ([0-9.]+), exited ([0-9.]+), status ([0-9.]+)`).FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Errorf("%s: no timeline with every step:\n%s", r.Name, r.Stderr)
		return
	}
	prev := 0.0
	for i, v := range m[1:] {
		f, _ := strconv.ParseFloat(v, 64)
		if f < prev {
			t.Errorf("%s: step %d of the timeline at %v ms, before the one before it (%v ms): %s", r.Name, i, f, prev, m[0])
		}
		prev = f
	}
	t.Logf("%s: %s", r.Name, m[0])
}
