package blk

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func TestOpenDiskErrors(t *testing.T) {
	dir := t.TempDir()
	path := tempImage(t, 4096, 0)
	missing := filepath.Join(dir, "missing.img")
	for _, tc := range []struct {
		opts DiskOptions
		want string
		is   error
	}{
		{DiskOptions{Path: missing}, "disk " + missing + ": no such file", fs.ErrNotExist},
		{DiskOptions{Path: dir}, "disk " + dir + ": is a directory", nil},
	} {
		_, err := OpenDisk(tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("OpenDisk(%s): %v, want %q", tc.opts.Path, err, tc.want)
		}
		if !vmm.IsConfigError(err) {
			t.Errorf("OpenDisk(%s): %v is not a vmm.ConfigError", tc.opts.Path, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("OpenDisk(%s): %v does not wrap %v", tc.opts.Path, err, tc.is)
		}
	}
	first, err := OpenDisk(DiskOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, ro := range []bool{false, true} {
		_, err := OpenDisk(DiskOptions{Path: path, ReadOnly: ro})
		if !errors.Is(err, ErrDiskInUse) {
			t.Errorf("a second open (ro=%v) of a disk open read-write: %v, want ErrDiskInUse", ro, err)
		}
		if !vmm.IsConfigError(err) {
			t.Errorf("a disk in use: %v is not a vmm.ConfigError", err)
		}
	}
	if os.Getuid() != 0 {
		unreadable := tempImage(t, 512, 0)
		os.Chmod(unreadable, 0)
		_, err := OpenDisk(DiskOptions{Path: unreadable})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable image: %v", err)
		}
		if !errors.Is(err, fs.ErrPermission) || !vmm.IsConfigError(err) {
			t.Errorf("unreadable image: %v is not a vmm.ConfigError wrapping fs.ErrPermission", err)
		}
	}
}

// TestOpenDiskErrorKinds: what the user can fix is a vmm.ConfigError, a
// host failure is not; both wrap their cause, in the same words as ever.
// (This runs as root too, where no file is unreadable.)
func TestOpenDiskErrorKinds(t *testing.T) {
	const path = "/images/a.img"
	open := func(errno syscall.Errno) error { return &fs.PathError{Op: "open", Path: path, Err: errno} }
	for _, tc := range []struct {
		err    error
		msg    string
		config bool
	}{
		{open(syscall.EACCES), "disk /images/a.img: permission denied (add ,ro for a read-only disk)", true},
		{open(syscall.EPERM), "disk /images/a.img: permission denied (add ,ro for a read-only disk)", true},
		{open(syscall.EROFS), "disk /images/a.img: open /images/a.img: read-only file system", true},
		{open(syscall.EIO), "disk /images/a.img: open /images/a.img: input/output error", false},
	} {
		err := openError(path, tc.err)
		if err.Error() != tc.msg {
			t.Errorf("%v: message %q, want %q", tc.err, err, tc.msg)
		}
		if vmm.IsConfigError(err) != tc.config {
			t.Errorf("%v: a configuration error = %v, want %v", tc.err, vmm.IsConfigError(err), tc.config)
		}
		if !errors.Is(err, tc.err.(*fs.PathError).Err) {
			t.Errorf("%v: %v does not wrap its cause", tc.err, err)
		}
	}
	if err := openError(path, open(syscall.EACCES)); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v does not wrap fs.ErrPermission", err)
	}
}

func TestOpenDiskSharedReadOnly(t *testing.T) {
	path := tempImage(t, 4096, 0)
	a, err := OpenDisk(DiskOptions{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenDisk(DiskOptions{Path: path, ReadOnly: true})
	if err != nil {
		t.Fatalf("two read-only users must be allowed: %v", err)
	}
	b.Close()
	if _, err := OpenDisk(DiskOptions{Path: path}); !errors.Is(err, ErrDiskInUse) {
		t.Errorf("a writer while a reader holds the image: %v", err)
	}
}

// TestDiskCloseTwice: closing flushes once; later calls do nothing.
func TestDiskCloseTwice(t *testing.T) {
	d, err := OpenDisk(DiskOptions{Path: tempImage(t, 4096, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// TestFailedFinalFlushNamesTheDisk: fdatasync fails on /dev/full; closing
// the device must report it, naming the disk, so gokvm exits 1.
func TestFailedFinalFlushNamesTheDisk(t *testing.T) {
	d, err := OpenDisk(DiskOptions{Path: "/dev/full"})
	if err != nil {
		t.Fatalf("opening /dev/full as a disk: %v", err)
	}
	b := New(d, nil)
	err = b.Close()
	if err == nil || !strings.Contains(err.Error(), "disk /dev/full") {
		t.Errorf("closing a disk whose flush fails: %v, want an error naming disk /dev/full", err)
	}
	// Close is idempotent: a second call reports the same outcome.
	if again := b.Close(); again == nil || again.Error() != err.Error() {
		t.Errorf("a second Close: %v, want %v again", again, err)
	}
}
