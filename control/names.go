package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// MaxNameLen bounds a VM name, so that its socket path fits a Unix socket
// address (108 bytes) under any reasonable state directory.
const MaxNameLen = 48

// ErrBadName says a VM name is not one gokvm accepts; ErrNameInUse that a
// live VM already has it; ErrNoVM that no VM has it.
var (
	ErrBadName   = errors.New("bad VM name")
	ErrNameInUse = errors.New("a VM with this name is running")
	ErrNoVM      = errors.New("no VM with this name")
)

// CheckName accepts names of 1 to MaxNameLen letters, digits, '.', '_'
// and '-', starting with a letter or digit: safe as a file name and on a
// command line.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the name is empty", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %.20q...: longer than %d characters", ErrBadName, name, MaxNameLen)
	}
	for i, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%w %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", ErrBadName, name)
		}
	}
	return nil
}

// NewName makes a name for a VM started without one: "vm-" and 8 random
// hex digits.
func NewName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "vm-" + hex.EncodeToString(b[:])
}

// Dir is the per-user state directory holding one socket per VM:
// $XDG_RUNTIME_DIR/gokvm, else ~/.gokvm.
func Dir() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "gokvm"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("the state directory: neither XDG_RUNTIME_DIR nor HOME is set: %w", err)
	}
	return filepath.Join(home, ".gokvm"), nil
}

// SocketPath is the control socket of the VM named name.
func SocketPath(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name+".sock")
	if len(p) >= 108 {
		return "", fmt.Errorf("control socket %s: the path is longer than a Unix socket address takes (107 bytes): set XDG_RUNTIME_DIR to a shorter directory", p)
	}
	return p, nil
}

// makeDir creates the state directory (0700) or checks an existing one:
// it must be a directory of this user that nobody else can enter, since
// whoever can reach a socket in it controls that VM.
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("the state directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("the state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the state directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("the state directory %s belongs to uid %d, not to this user (%d)", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("the state directory %s is open to others (%v) and cannot be closed: %w", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}
