package cfiflash

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func writeImage(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vars.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// What the guest programs and erases reaches the file, and is on it once
// the device is closed; the guest sees the first power-of-two bytes.
func TestFileReachesDisk(t *testing.T) {
	path := writeImage(t, 3*BlockSize) // not a power of two: 128 KiB visible
	fl, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if fl.Size() != 2*BlockSize || !strings.Contains(fl.Note(), "not a power of two; the guest sees its first 128 KiB") {
		t.Errorf("size %d, note %q", fl.Size(), fl.Note())
	}
	w := &window{}
	spec := Spec(fl)
	if spec.Area != vmm.AreaFlash || spec.Size != 2*BlockSize {
		t.Errorf("spec area %v size %d", spec.Area, spec.Size)
	}
	d, err := spec.New(w.env())
	if err != nil {
		t.Fatal(err)
	}
	f := d.(*fileFlash).Flash
	wr32(f, BlockSize, both(cmdEraseSetup)) // block 1 to 0xFF
	wr32(f, BlockSize, both(cmdConfirm))
	wr32(f, 0, both(cmdWordProgram)) // nothing happens to zeros
	wr32(f, 8, 0xffffffff)
	wr32(f, 0, both(cmdWordProgram))
	wr32(f, BlockSize+4, 0x12345678)
	if err := d.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	if w.mapped {
		t.Errorf("the array is still mapped after Close")
	}
	got, _ := os.ReadFile(path)
	want := make([]byte, 3*BlockSize)
	copy(want[BlockSize:], bytes.Repeat([]byte{0xff}, BlockSize))
	copy(want[BlockSize+4:], []byte{0x78, 0x56, 0x34, 0x12})
	if !bytes.Equal(got, want) {
		t.Errorf("the file does not hold what the guest programmed")
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	small := writeImage(t, BlockSize-1)
	big := writeImage(t, 20<<20)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "none"), "no such file"},
		{dir, "not a regular file"},
		{small, "a flash holds at least one 64 KiB erase block"},
	} {
		if _, err := Open(tc.path); err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a ConfigError saying %q", tc.path, err, tc.want)
		}
	}
	fl, err := Open(big)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if fl.Size() != MaxSize || !strings.Contains(fl.Note(), "the guest sees its first 16 MiB") {
		t.Errorf("a 20 MiB file: size %d, note %q", fl.Size(), fl.Note())
	}
	if _, err := Open(big); err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("a second open: %v", err)
	}
	if os.Geteuid() != 0 { // root opens a read-only file for writing
		ro := writeImage(t, BlockSize)
		os.Chmod(ro, 0o444)
		if _, err := Open(ro); err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), "the guest writes to its flash") {
			t.Errorf("a read-only file: %v", err)
		}
	}
}
