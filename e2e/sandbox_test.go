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
	"github.com/gokvm/gokvm/sandbox"
)

// The sandbox scenarios run `gokvm sandbox` in the emulated host: the
// guest's "host" is the emulated host's root (its initramfs), which gets
// a static busybox (sh, true, sleep, ...) and the Debian kernel's modules
// for 9p and overlayfs at /lib/modules/VERSION, from testdata/kernels.

// sandboxModules is the /lib/modules/VERSION path in the emulated host.
var sandboxModules string

func init() {
	extraPrepare = append(extraPrepare, prepareSandbox)
	extraScenarios = append(extraScenarios, sandboxScenarios)
}

func prepareSandbox(b *harness.Build) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	if err := harness.GoBuild(root, "./e2e/cmd/sandboxtest", "arm64", filepath.Join(b.GuestDir, "sandboxtest")); err != nil {
		return err
	}
	sandboxModules, err = harness.AddSandboxFiles(b)
	return err
}

// sandboxArgs is a gokvm sandbox of the test kernel with its modules.
func sandboxArgs(args ...string) []string {
	return append([]string{"sandbox", "-k", "$GUEST/Image", "--modules", sandboxModules}, args...)
}

func sandboxScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		// The scenarios use the emulated host's busybox and helper tool,
		// and nothing in them depends on the interrupt controller.
		return nil
	}
	ss := []scenario.Scenario{
		{Name: "sandbox-exit7", Args: sandboxArgs("--", "sh", "-c", "exit 7")},
		{Name: "sandbox-true", Args: sandboxArgs("--", "true")},
		{Name: "sandbox-not-found", Args: sandboxArgs("--", "no-such-command", "arg")},
		{Name: "sandbox-not-executable", Args: sandboxArgs("--", "$GUEST/Image")},
		{Name: "sandbox-timeout", Args: sandboxArgs("--timeout", "20s", "--", "sleep", "600"), Timeout: 150 * time.Second},
		{Name: "sandbox-panic", Args: sandboxArgs("--", "sh", "-c", "echo c > /proc/sysrq-trigger; sleep 60")},
		{Name: "sandbox-no-modules", Args: []string{"sandbox", "-k", "$GUEST/Image", "--", "true"}},
		{Name: "sandbox-missing-module-tree", Args: sandboxArgs("--modules", "/no/such/modules", "--", "true")},
		// Exact bytes on stdout: captured into a file by the helper tool
		// (whose status is gokvm's, 0 or 1).
		{Name: "sandbox-stdout", Program: tool,
			Args:    append([]string{"capture", "$WORK/stdout", "/gokvm"}, sandboxArgs("--console-log", "$WORK/console.log", "--", "sh", "-c", "echo hello")...),
			Collect: []string{"$WORK/stdout", "$WORK/console.log"}},
		{Name: "sandbox-stdin", Args: sandboxArgs("--", "sh", "-c", `echo ready; read line; echo "got $line"; exit 3`),
			Stdin: "hello from stdin\n", StdinAfter: "ready", Timeout: 150 * time.Second},
		{Name: "sandbox-writes-vanish", Args: sandboxArgs("--", "sh", "-c", "echo changed > /scenarios.json && cat /scenarios.json && pwd && echo HOME=$HOME PATH=$PATH TERM=$TERM"),
			After: [][]string{{tool, "sha", "/scenarios.json"}}},
		{Name: "sandbox-9p-shares", Args: sandboxArgs("--9p", "$WORK/rw,rwtag", "--9p", "$WORK/ro,rotag,ro", "--", "sh", "-c",
			"echo kept > $WORK/rw/fromsandbox; echo rw=$?; { echo x > $WORK/ro/new; } 2>/dev/null; echo ro=$?; cat $WORK/ro/keep"),
			Before: [][]string{{tool, "mkdir", "$WORK/rw"}, {tool, "mkdir", "$WORK/ro"}, {tool, "writefile", "$WORK/ro/keep", "keep me"}, {tool, "treesha", "$WORK/ro"}},
			After:  [][]string{{tool, "sha", "$WORK/rw/fromsandbox"}, {tool, "treesha", "$WORK/ro"}}},
		{Name: "sandbox-go-api", Program: "$GUEST/sandboxtest", Args: []string{"$GUEST/Image", sandboxModules}, Timeout: 240 * time.Second},
	}
	return ss
}

func sandboxResult(t *testing.T, h, name string, status int) scenario.Result {
	t.Helper()
	r := result(t, h, name)
	if r.Exit != status {
		t.Errorf("%s: exit status %d, want %d\nstderr:\n%s", name, r.Exit, status, r.Stderr)
	}
	return r
}

// TestSandboxStatuses: the command's own status, and sandbox's statuses
// for a command not found, not executable, a timeout, and a kernel that
// went down; 125 for a kernel without 9p and no --modules.
func TestSandboxStatuses(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		t.Run("exit7", func(t *testing.T) { sandboxResult(t, h, "sandbox-exit7", 7) })
		t.Run("true", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-true", 0)
			if out := r.Output(); out != "" {
				t.Errorf("true printed %q", out)
			}
		})
		t.Run("not-found", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-not-found", sandbox.StatusNotFound)
			if !strings.Contains(r.Stderr, "no-such-command: command not found") {
				t.Errorf("stderr does not name the command:\n%s", r.Stderr)
			}
		})
		t.Run("not-executable", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-not-executable", sandbox.StatusNotRunnable)
			if !strings.Contains(r.Stderr, "permission denied") {
				t.Errorf("stderr does not say why:\n%s", r.Stderr)
			}
		})
		t.Run("timeout", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-timeout", sandbox.StatusTimeout)
			if r.ElapsedMS < 20000 || r.ElapsedMS > 60000 {
				t.Errorf("--timeout 20s stopped the guest after %d ms", r.ElapsedMS)
			}
		})
		t.Run("kernel-down", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-panic", sandbox.StatusKernelDown)
			if !strings.Contains(r.Stderr, "went down") || !strings.Contains(r.Stderr, "sysrq triggered crash") {
				t.Errorf("stderr does not say the kernel went down, with its panic:\n%s", r.Stderr)
			}
			if out := r.Output(); out != "" {
				t.Errorf("kernel messages on stdout: %q", out)
			}
		})
		t.Run("no-modules", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-no-modules", sandbox.StatusFailed)
			if !strings.Contains(r.Stderr, "9p") || !strings.Contains(r.Stderr, "--modules") {
				t.Errorf("stderr does not name what the kernel lacks:\n%s", r.Stderr)
			}
		})
		t.Run("missing-module-tree", func(t *testing.T) {
			r := sandboxResult(t, h, "sandbox-missing-module-tree", sandbox.StatusFailed)
			if !strings.Contains(r.Stderr, "/no/such/modules") {
				t.Errorf("stderr does not name the tree:\n%s", r.Stderr)
			}
		})
	})
}

// TestSandboxOutput: stdout carries only the command's output, exactly;
// --console-log holds the kernel's boot messages.
func TestSandboxOutput(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := sandboxResult(t, h, "sandbox-stdout", 0)
		if got := string(r.Files["$WORK/stdout"]); got != "hello\n" {
			t.Errorf("stdout %q, want exactly %q", got, "hello\n")
		}
		log := string(r.Files["$WORK/console.log"])
		for _, want := range []string{"Booting Linux", "Linux version", "gokvm-sandbox: status 0"} {
			if !strings.Contains(log, want) {
				t.Errorf("--console-log lacks %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, "hello") {
			t.Errorf("the command's output is in the console log")
		}
	})
}

// TestSandboxStdin: input that is not a terminal reaches the command.
func TestSandboxStdin(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := sandboxResult(t, h, "sandbox-stdin", 3)
		if out := r.Output(); out != "ready\ngot hello from stdin\n" {
			t.Errorf("output %q", out)
		}
	})
}

// TestSandboxWritesVanish: the command writes over a host file, reads its
// own write, runs in the host's directory with PATH, HOME and TERM set; the
// host file is unchanged afterwards.
func TestSandboxWritesVanish(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := sandboxResult(t, h, "sandbox-writes-vanish", 0)
		out := r.Output()
		if !strings.HasPrefix(out, "changed\n/\nHOME=") || !strings.Contains(out, "PATH=/bin:") || !strings.Contains(out, "TERM=dumb") {
			t.Errorf("output %q", out)
		}
		notes := strings.Join(r.Notes, "\n")
		m := regexp.MustCompile(`HOST-SHA /scenarios.json \S+ ([0-9]+)`).FindStringSubmatch(notes)
		if m == nil || m[1] == fmt.Sprint(len("changed\n")) {
			t.Errorf("the host file after the run (it must be the scenarios, not the guest's write): %s", notes)
		}
	})
}

// TestSandboxGoAPI: sandbox.Run from a Go program (e2e/cmd/sandboxtest).
func TestSandboxGoAPI(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "sandbox-go-api")
		out := r.Output()
		if r.Exit != 0 || strings.Contains(out, "SANDBOXTEST FAIL") || !strings.Contains(out, "SANDBOXTEST ok") {
			t.Errorf("sandboxtest exit %d:\n%s\nstderr:\n%s", r.Exit, out, r.Stderr)
		}
	})
}

// TestSandboxShares: under sandbox, a file the command writes in a `--9p`
// share given rw is on the host after exit; under `,ro` the write is
// refused and the host's directory is as it was.
func TestSandboxShares(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := sandboxResult(t, h, "sandbox-9p-shares", 0)
		out := r.Output()
		if !strings.Contains(out, "rw=0\n") || !strings.Contains(out, "ro=1\n") || !strings.Contains(out, "keep me") {
			t.Errorf("the command's output %q, want rw=0, ro=1 and the read-only file's text", out)
		}
		shas, _ := hostFacts(r)
		if got, want := shas["fromsandbox"], pattern.SHA256([]byte("kept\n")); len(got) != 1 || got[0] != want {
			t.Errorf("the rw share's file on the host after the run: %v, want %s", got, want)
		}
		var trees []string
		for _, n := range r.Notes {
			for _, m := range hostTree.FindAllStringSubmatch(n, -1) {
				trees = append(trees, m[2])
			}
		}
		if len(trees) != 2 || trees[0] != trees[1] {
			t.Errorf("the read-only share's tree before and after the run: %v", trees)
		}
	})
}
