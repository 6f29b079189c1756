package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
)

// dirEntries names what is in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSnapshotCommand(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	srv, vm := serveVM(t, "web", nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "web.state")
	if code, out, e := runCLI(t, "snapshot", "web", file); code != 0 || out != "" || e != "" {
		t.Fatalf("snapshot: %d %q %q", code, out, e)
	}
	state, err := os.ReadFile(file)
	if err != nil || string(state) != "state of a VM whose RAM is web.state.ram" {
		t.Errorf("state file %q %v", state, err)
	}
	if ram, err := os.ReadFile(file + machine.RAMFileSuffix); err != nil || string(ram) != "RAM" {
		t.Errorf("RAM file %q %v", ram, err)
	}
	for _, p := range []string{file, file + machine.RAMFileSuffix} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, fi.Mode(), err)
		}
	}
	if got := dirEntries(t, dir); len(got) != 2 {
		t.Errorf("the directory holds %q, want only the two files", got)
	}
	if vm.Paused() {
		t.Error("the VM was left paused")
	}

	// A snapshot that fails leaves the one before whole, and no file of
	// its own: a VM that cannot be saved is status 2 with the VM's words.
	vm.snapErr = control.CannotSave(errors.New("snapshot: this machine cannot be saved: device virtio-blk0 has no saved state yet"))
	code, _, e := runCLI(t, "snapshot", "web", file)
	if code != machine.ExitUsage || !strings.Contains(e, "device virtio-blk0 has no saved state yet") || strings.Count(e, "\n") != 1 {
		t.Errorf("a VM that cannot be saved: %d %q, want status 2 and one line naming the device", code, e)
	}
	vm.snapErr = errors.New("saving guest RAM to web.state.ram: no space left on device")
	if code, _, e := runCLI(t, "snapshot", "--stop", "web", file); code != machine.ExitFailure || !strings.Contains(e, "no space left") {
		t.Errorf("a failed save: %d %q, want status 1", code, e)
	}
	if got := dirEntries(t, dir); len(got) != 2 {
		t.Errorf("after failed snapshots the directory holds %q", got)
	}
	if state, _ := os.ReadFile(file); string(state) != "state of a VM whose RAM is web.state.ram" {
		t.Errorf("a failed snapshot changed the state file before it: %q", state)
	}

	// --stop: saved, then stopped as gokvm stop does.
	vm.snapErr = nil
	waited := make(chan int)
	go func() {
		code, _, _ := runCLI(t, "wait", "web")
		waited <- code
	}()
	awaitWaiter(t, srv)
	if code, _, e := runCLI(t, "snapshot", "web", filepath.Join(dir, "last"), "--stop"); code != 0 {
		t.Errorf("snapshot --stop: %d %q", code, e)
	}
	if code := <-waited; code != machine.ExitStopped {
		t.Errorf("the VM ended with %d, want %d as after gokvm stop", code, machine.ExitStopped)
	}
	if _, err := os.Stat(filepath.Join(dir, "last.ram")); err != nil {
		t.Errorf("snapshot --stop: %v", err)
	}
	if code, _, e := runCLI(t, "snapshot", "web", file); code != machine.ExitFailure || !strings.Contains(e, "no VM") {
		t.Errorf("snapshot of a stopped VM: %d %q", code, e)
	}
}

func TestSnapshotUsageErrors(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	serveVM(t, "db", nil)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	plain := writeFile(t, dir, "plain", nil)
	missing := filepath.Join(dir, "no", "such", "dir")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"snapshot"}, "want NAME FILE"},
		{[]string{"snapshot", "db"}, "want NAME FILE"},
		{[]string{"snapshot", "db", "a", "b"}, `unexpected argument "b"`},
		{[]string{"snapshot", "--bogus", "db", filepath.Join(dir, "f")}, "bogus"},
		{[]string{"snapshot", "db", filepath.Join(dir, "f"), "--stop=maybe"}, "stop"},
		{[]string{"snapshot", "a/b", filepath.Join(dir, "f")}, "bad VM name"},
		{[]string{"snapshot", "db", filepath.Join(missing, "vm.state")}, "the directory " + missing + " does not exist"},
		{[]string{"snapshot", "db", filepath.Join(plain, "vm.state")}, plain + " is not a directory"},
		{[]string{"snapshot", "db", filepath.Join(dir, "sub")}, "is a directory"},
		{[]string{"snapshot", "db", dir + "/"}, "not a file name"},
		{[]string{"snapshot", "db", filepath.Join(dir, strings.Repeat("f", 252))}, "longer than a file name"},
	} {
		code, _, e := runCLI(t, tc.args...)
		if code != machine.ExitUsage || !strings.Contains(e, tc.want) || strings.Count(e, "\n") != 1 {
			t.Errorf("%q: %d %q, want status 2 and one line saying %q", tc.args, code, e, tc.want)
		}
	}
	if got := dirEntries(t, dir); len(got) != 2 {
		t.Errorf("usage errors left %q", got)
	}
	if code, _, e := runCLI(t, "snapshot", "nosuch", filepath.Join(dir, "f")); code != machine.ExitFailure || !strings.Contains(e, "no VM") {
		t.Errorf("snapshot of no VM: %d %q", code, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a snapshot of no VM created its file: %v", err)
	}
}

func TestHelpNamesSnapshot(t *testing.T) {
	_, out, _ := runCLI(t, "help")
	if !strings.Contains(out, "gokvm snapshot NAME FILE [--stop]") {
		t.Error("help lacks gokvm snapshot")
	}
}
