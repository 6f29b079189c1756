package guestinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadWarmFiles: the warm init reads regular files whole, up to the
// limit each, through symlinks; it skips what is absent, a directory and
// a FIFO, which would otherwise block the save for ever.
func TestReadWarmFiles(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "sh")
	os.WriteFile(small, []byte("#!busybox"), 0o755)
	big := filepath.Join(dir, "libc.so.6")
	os.WriteFile(big, []byte(strings.Repeat("x", 600<<10)), 0o644)
	link := filepath.Join(dir, "ld.so")
	os.Symlink("libc.so.6", link)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	paths := []string{small, fifo, big, link, dir, filepath.Join(dir, "absent")}
	if got, want := readWarmFiles(paths, 1<<20), 9+2*(600<<10); got != want {
		t.Errorf("read %d bytes, want %d", got, want)
	}
	// The limit: 300 KiB of each large file, a read cut to it.
	if got, want := readWarmFiles(paths, 300<<10), 9+2*(300<<10); got != want {
		t.Errorf("with a limit: read %d bytes, want %d", got, want)
	}
}
