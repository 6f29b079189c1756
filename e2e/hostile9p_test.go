package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

// The 9p attacker: the hostile guest (e2e/hostile, hostile.mode=9p) as a
// raw virtio-9p driver against a writable share of a scratch directory
// and the emulated host's root shared read-only. It walks into the file
// systems mounted on /, announces a 100 MiB extended attribute and writes
// all of it, unlinks names of 60000 bytes and missing ones by the
// thousand, clones fids until gokvm runs out of file descriptors, opens a
// fid twice and uses fids across a Tversion (ninep_steps.go there).

// hostile9pSteps are its steps, in order.
var hostile9pSteps = []string{
	"9p-attach", "9p-mounts", "9p-xattr", "9p-unlink", "9p-fids", "9p-reopen", "9p-version", "9p-after",
}

const (
	// hostile9pNofile is gokvm's RLIMIT_NOFILE (soft and hard), so that
	// the fid flood runs it out of descriptors after some hundreds.
	hostile9pNofile = 1024
	// hostile9pMsize is the msize the attacker negotiates.
	hostile9pMsize = 128 << 10
	// hostile9pXattr is the size of the extended attribute it writes.
	hostile9pXattr = 100 << 20
	// hostile9pGoSysKiB bounds the Go runtime's memory from the OS at
	// gokvm's exit (--stats). Every step but 9p-xattr took 16 MiB in
	// the emulated host; a server that buffers the attribute's writes
	// until Tclunk holds 100 MiB more at least (469 MiB in all: a
	// buffer on each share, and append's copies as each grew); one
	// that refuses them needs nothing more.
	hostile9pGoSysKiB = 64 << 10
)

func init() {
	extraScenarios = append(extraScenarios, hostile9pScenarios)
}

func hostile9pScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		// The rlimit wrapper and the host's root are the emulated
		// host's; nothing here depends on the interrupt controller.
		return nil
	}
	args := []string{"rlimit", fmt.Sprint(hostile9pNofile), "/gokvm",
		"run", "-k", "$GUEST/Image", "-i", "$GUEST/" + hostileInitrd,
		"-p", "console=ttyS0 quiet panic=-1 hostile.mode=9p", "-c", "2", "--timeout", "240s", "--stats",
		"--9p", "$WORK/share,scratch", "--9p", "/,hroot,ro"}
	before := [][]string{
		{tool, "mkdir", "$WORK/share/sub"},
		{tool, "writefile", "$WORK/share/sub/hello", "hello from the share"},
		{tool, "treesha", "$WORK/share"},
	}
	after := [][]string{{tool, "treesha", "$WORK/share"}}
	return []scenario.Scenario{{Name: "hostile-9p", Program: tool, Args: args,
		Before: before, After: after, Timeout: 300 * time.Second}}
}

var (
	goSys      = regexp.MustCompile(`stats: Go runtime: (\d+) KiB from the OS`)
	fidFlood   = regexp.MustCompile(`^clones=(\d+) then=(\S+)$`)
	tallyEntry = regexp.MustCompile(`^(\S+):(\d+)$`)
)

// observed is what the attacker printed for tag and what: the rest of
// its "HOSTILE-9P TAG WHAT ..." line, "" when there is none.
func observed(out, tag, what string) string {
	l := lineWith(out, "HOSTILE-9P "+tag+" "+what+" ")
	return strings.TrimPrefix(l, "HOSTILE-9P "+tag+" "+what+" ")
}

// tallied parses a tally ("Rlerror=36:2000,Rwrite:1").
func tallied(s string) map[string]int {
	m := map[string]int{}
	for _, p := range strings.Split(s, ",") {
		if e := tallyEntry.FindStringSubmatch(p); e != nil {
			n, _ := strconv.Atoi(e[2])
			m[e[1]] += n
		}
	}
	return m
}

// TestHostile9p: a guest that drives virtio-9p itself breaks no rule of
// the transport but abuses the protocol; gokvm refuses each abuse with
// the right error, its heap stays bounded, it keeps serving, and exits
// 0 when the guest powers off.
func TestHostile9p(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "hostile-9p")
		out := r.Output()
		var seen strings.Builder
		for _, l := range r.Lines {
			if strings.HasPrefix(l.Text, "HOSTILE-") {
				fmt.Fprintf(&seen, "%6d ms %s\n", l.MS, l.Text)
			}
		}
		t.Logf("exit %d after %d ms; the guest:\n%sgokvm's stderr:\n%s", r.Exit, r.ElapsedMS, seen.String(), r.Stderr)
		checkHostile9pRun(t, r)
		checkHostile9pAnswers(t, out)
		checkHostile9pFloods(t, out)
		checkHostile9pHeap(t, r.Stderr)
	})
}

// checkHostile9pRun: gokvm survived, every step finished, the guest
// powered off, and the scratch share is as it was.
func checkHostile9pRun(t *testing.T, r scenario.Result) {
	t.Helper()
	out := r.Output()
	if r.Exit != machine.ExitPowerOff {
		t.Errorf("gokvm exit status %d, want %d (powered off)", r.Exit, machine.ExitPowerOff)
	}
	for _, bad := range []string{"panic", "fatal error"} {
		if strings.Contains(r.Stderr, bad) {
			t.Errorf("gokvm's stderr has %q", bad)
		}
	}
	for _, s := range hostile9pSteps {
		if !strings.Contains(out, "HOSTILE-STEP "+s+" done") {
			t.Errorf("step %s did not finish", s)
		}
	}
	if l := lineWith(out, "HOSTILE-ERROR"); l != "" {
		t.Errorf("the hostile guest reported errors, first %q", l)
	}
	if !strings.Contains(out, "HOSTILE-POWEROFF") {
		t.Errorf("the hostile guest did not get to power off")
	}
	var trees []string
	for _, n := range r.Notes {
		for _, m := range hostTree.FindAllStringSubmatch(n, -1) {
			trees = append(trees, m[2])
		}
	}
	if len(trees) != 2 || trees[0] != trees[1] {
		t.Errorf("the scratch share's tree before and after the run: %v", trees)
	}
}

// checkHostile9pAnswers: the answer to each single request.
func checkHostile9pAnswers(t *testing.T, out string) {
	t.Helper()
	hello := `Rread n=20 "hello from the share"`
	both := func(what, want string) [][3]string {
		return [][3]string{{"scratch", what, want}, {"hroot", what, want}}
	}
	var want [][3]string
	for _, w := range [][][3]string{
		both("version", fmt.Sprintf("Rversion msize=%d", hostile9pMsize)),
		both("attach", "Rattach"),
		// Mount crossings of the host's root are refused; its own
		// directories and files are served.
		{{"hroot", "walk-proc", "Rlerror=2"}, {"hroot", "walk-sys", "Rlerror=2"},
			{"hroot", "walk-dev", "Rlerror=2"}, {"hroot", "walk-tmp", "Rlerror=2"},
			{"hroot", "proc-version-walk", "Rlerror=2"},
			{"hroot", "walk-guest", "Rwalk"}, {"hroot", "scenarios-json-lopen", "Rlopen"},
			{"scratch", "sub-hello-read", hello}},
		// No extended attribute is taken, on either share.
		{{"scratch", "xattrcreate", "Rlerror=95"}, {"hroot", "xattrcreate", "Rlerror=30"}},
		// Names too long, and missing ones, refused one by one (the
		// read-only share gets fewer): a name too long is that before
		// it is a change to a read-only share.
		{{"scratch", "unlink-long", "Rlerror=36:2000"},
			{"scratch", "unlink-missing", "Rlerror=2:2000"},
			{"hroot", "unlink-long", "Rlerror=36:200"},
			{"hroot", "unlink-missing", "Rlerror=30:200"}},
		both("walk-after-flood", "Rwalk"),
		both("lopen-first", "Rlopen"),
		both("lopen-second", "Rlerror=22"),
		// Tversion ends the session's fids.
		both("version-again", fmt.Sprintf("Rversion msize=%d", hostile9pMsize)),
		both("old-root-walk", "Rlerror=9"),
		both("old-fid-clunk", "Rlerror=9"),
		both("attach-again", "Rattach"),
		{{"scratch", "after-sub-hello-read", hello}},
	} {
		want = append(want, w...)
	}
	for _, w := range want {
		if got := observed(out, w[0], w[1]); got != w[2] {
			t.Errorf("%s %s: %q, want %q", w[0], w[1], got, w[2])
		}
	}
	// A regular file of the host's root reads as what it is: the
	// emulated host's scenario list.
	for _, what := range []string{"scenarios-json-read", "after-scenarios-json-read"} {
		if got := observed(out, "hroot", what); !strings.HasPrefix(got, "Rread n=") || strings.HasPrefix(got, "Rread n=0 ") || !strings.Contains(got, `[{\"Name\"`) {
			t.Errorf("hroot %s: %q, want the start of scenarios.json", what, got)
		}
	}
}

// checkHostile9pFloods: each of the 100 MiB attribute's writes is
// refused; the fid flood ends in EMFILE and every clone clunks.
func checkHostile9pFloods(t *testing.T, out string) {
	t.Helper()
	chunk := hostile9pMsize - 7 - 16
	writes := (hostile9pXattr + chunk - 1) / chunk
	for _, tag := range []string{"scratch", "hroot"} {
		got := observed(out, tag, "xattr-writes")
		n := 0
		for k, v := range tallied(got) {
			if !strings.HasPrefix(k, "Rlerror=") {
				t.Errorf("%s: %d of the attribute's Twrites answered %s, want Rlerror", tag, v, k)
			}
			n += v
		}
		if n != writes {
			t.Errorf("%s xattr-writes: %q, want %d answers", tag, got, writes)
		}
	}
	got := observed(out, "scratch", "fid-flood")
	m := fidFlood.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("fid-flood: %q", got)
	}
	clones, _ := strconv.Atoi(m[1])
	// The shares leave a quarter of RLIMIT_NOFILE to the rest of gokvm:
	// the guest's EMFILE comes before gokvm's own descriptors run out.
	if budget := hostile9pNofile * 3 / 4; m[2] != "Rlerror=24" || clones == 0 || clones >= budget {
		t.Errorf("fid-flood: %d clones, then %s; want EMFILE (Rlerror=24) after some and fewer than %d", clones, m[2], budget)
	}
	if got, want := observed(out, "scratch", "fid-flood-clunks"), fmt.Sprintf("Rclunk:%d", clones); got != want {
		t.Errorf("clunking the clones: %q, want %q", got, want)
	}
}

// checkHostile9pHeap: the Go runtime's memory at exit stayed below the
// bound: nothing the guest sent was kept.
func checkHostile9pHeap(t *testing.T, stderr string) {
	t.Helper()
	m := goSys.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no --stats line with the Go runtime's memory on gokvm's stderr")
	}
	kib, _ := strconv.Atoi(m[1])
	t.Logf("the Go runtime had %d KiB from the OS at exit", kib)
	if kib >= hostile9pGoSysKiB {
		t.Errorf("the Go runtime had %d KiB from the OS at exit, want under %d", kib, hostile9pGoSysKiB)
	}
}
