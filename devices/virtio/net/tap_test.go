package net

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

func TestTapNames(t *testing.T) {
	for _, bad := range []string{"", "this-name-is-too-long", "a/b", "sp ace", ".."} {
		err := ValidTapName(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if !vmm.IsConfigError(err) {
			t.Errorf("%q: %v is not a vmm.ConfigError", bad, err)
		}
	}
	if err := ValidTapName("tap0"); err != nil {
		t.Error(err)
	}
	if _, err := OpenTap("a/b"); !vmm.IsConfigError(err) {
		t.Errorf("OpenTap with a bad name: %v, want a vmm.ConfigError", err)
	}
}

// TestTapOpenErrors: what the user can fix is a vmm.ConfigError wrapping
// its cause (errors.Is(err, fs.ErrPermission) works), in the same words as
// ever; a host failure is not. (Tests run as root, where opening the tap
// device never fails for permission.)
func TestTapOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		msg    string
		config bool
		perm   bool
	}{
		{"open EACCES", openTapError("tap0", syscall.EACCES),
			"tap tap0: no permission to open /dev/net/tun (needs CAP_NET_ADMIN, or a tap owned by this user)", true, true},
		{"open EPERM", openTapError("tap0", syscall.EPERM),
			"tap tap0: no permission to open /dev/net/tun (needs CAP_NET_ADMIN, or a tap owned by this user)", true, true},
		{"open ENOENT", openTapError("tap0", syscall.ENOENT),
			"tap tap0: opening /dev/net/tun: no such file or directory", false, false},
		{"TUNSETIFF EPERM", attachTapError("tap0", false, syscall.EPERM),
			"tap tap0: no permission (TUNSETIFF needs CAP_NET_ADMIN)", true, true},
		{"not a tap", attachTapError("eth0", true, syscall.EINVAL),
			"eth0 exists and is not a tap gokvm can attach to (TUNSETIFF: invalid argument)", true, false},
		{"busy", attachTapError("tap0", true, syscall.EBUSY),
			"tap0 exists and is not a tap gokvm can attach to (TUNSETIFF: device or resource busy)", true, false},
		{"TUNSETIFF EINVAL on a new interface", attachTapError("tap0", false, syscall.EINVAL),
			"tap tap0: TUNSETIFF: invalid argument", false, false},
	} {
		if tc.err.Error() != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.name, tc.err, tc.msg)
		}
		if vmm.IsConfigError(tc.err) != tc.config {
			t.Errorf("%s: a configuration error = %v, want %v", tc.name, vmm.IsConfigError(tc.err), tc.config)
		}
		if errors.Is(tc.err, fs.ErrPermission) != tc.perm {
			t.Errorf("%s: errors.Is(fs.ErrPermission) = %v, want %v", tc.name, !tc.perm, tc.perm)
		}
		var errno syscall.Errno
		if !errors.As(tc.err, &errno) {
			t.Errorf("%s: %v does not wrap its errno", tc.name, tc.err)
		}
	}
	if err := ValidTapName(strings.Repeat("x", 20)); !strings.Contains(err.Error(), "interface names have at most 15") {
		t.Errorf("a long name: %v", err)
	}
}

// TestOpenTapWithoutPermission: a user who may not create taps gets a
// vmm.ConfigError wrapping fs.ErrPermission.
func TestOpenTapWithoutPermission(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root may create taps")
	}
	tap, err := OpenTap("gokvmperm0")
	if err == nil {
		tap.Close()
		t.Skip("this user may create taps")
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no tap device: %v", err)
	}
	if !errors.Is(err, fs.ErrPermission) || !vmm.IsConfigError(err) {
		t.Errorf("OpenTap without permission: %v, want a vmm.ConfigError wrapping fs.ErrPermission", err)
	}
}
