package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
)

// TestTapWithoutPermission runs gokvm without CAP_NET_ADMIN (as nobody when
// the test runs as root) and asks for a new tap: a one-line error saying so,
// with the usage status.
func TestTapWithoutPermission(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Fatalf("this test needs /dev/net/tun: %v", err)
	}
	// Not t.TempDir: its parent is private, and nobody must reach the files.
	dir, err := os.MkdirTemp("", "gokvm-tap-test")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "gokvm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kernel := filepath.Join(dir, "Image")
	if err := os.WriteFile(kernel, testimage.Arm64(1<<20, 0, 20<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-k", kernel, "-n", "mode=tap,tapif=gknoperm0")
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("running gokvm: %v", err)
	}
	if code := cmd.ProcessState.ExitCode(); code != machine.ExitUsage || !strings.Contains(string(out), "no permission") {
		t.Errorf("exit %d, output %q; want %d and a no-permission message", code, out, machine.ExitUsage)
	}
}
