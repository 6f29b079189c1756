package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHostLookPath(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(a, "plain"), 0o644) // not executable: skipped
	write(filepath.Join(b, "plain"), 0o755)
	write(filepath.Join(b, "tool"), 0o755)
	os.Mkdir(filepath.Join(a, "tool"), 0o755) // a directory: skipped
	path := "PATH=" + a + ":" + b
	// The test's files are in the host's /tmp: the guest's own /tmp is
	// another directory here.
	own := []string{"/proc", "/sys", "/dev", "/gokvm-test-own-tmp"}
	for _, c := range []struct {
		name, path, want string
	}{
		{"tool", path, filepath.Join(b, "tool")},
		{"plain", path, filepath.Join(b, "plain")},
		{"missing", path, ""},
		{"./tool", path, ""},
		{b + "/tool", path, ""},
		// An entry the guest sees differently ends the search: its
		// /tmp is its own, and "." is the guest's working directory.
		{"tool", "PATH=/gokvm-test-own-tmp/x:" + b, ""},
		{"tool", "PATH=:" + b, ""},
		{"tool", "PATH=rel:" + b, ""},
		{"tool", "PATH=/proc/self:" + b, ""},
		// Past a hit, entries do not matter.
		{"tool", "PATH=" + b + ":/gokvm-test-own-tmp", filepath.Join(b, "tool")},
		// /gokvm-test-own-tmpfoo is not in /gokvm-test-own-tmp.
		{"tool", "PATH=/gokvm-test-own-tmpfoo:" + b, filepath.Join(b, "tool")},
		{"tool", "HOME=/", ""},
	} {
		if got := lookPathBeside(c.name, []string{"HOME=/", c.path}, own); got != c.want {
			t.Errorf("hostLookPath(%q, %q) = %q, want %q", c.name, c.path, got, c.want)
		}
	}
}
