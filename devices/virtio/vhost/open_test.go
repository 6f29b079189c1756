package vhost

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// TestOpenMissing: a missing device is a configuration error naming it
// and its module.
func TestOpenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vhost-net")
	_, err := Open(path, "vhost_net")
	if err == nil || !vmm.IsConfigError(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing device: %v, want a ConfigError wrapping ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "vhost_net") {
		t.Errorf("%q names neither the device nor the module", err)
	}
}

// TestOpenForbidden: a device gokvm may not open is a configuration error
// naming it.
func TestOpenForbidden(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens anything")
	}
	path := filepath.Join(t.TempDir(), "vhost-vsock")
	if err := os.WriteFile(path, nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, "vhost_vsock")
	if err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a forbidden device: %v", err)
	}
}

// TestNotVhost: a file that is not a vhost device fails at
// VHOST_SET_OWNER, and nothing is left open.
func TestNotVhost(t *testing.T) {
	_, err := Open(os.DevNull, "vhost_net")
	if err == nil || !strings.Contains(err.Error(), "VHOST_SET_OWNER") {
		t.Fatalf("Open(%s): %v, want a VHOST_SET_OWNER failure", os.DevNull, err)
	}
}

// TestClosedDev: a closed device fails every request instead of using a
// stale descriptor.
func TestClosedDev(t *testing.T) {
	d := &Dev{path: "/dev/vhost-test"}
	if _, err := d.Features(); err == nil {
		t.Error("Features on a closed device succeeded")
	}
	if err := d.SetVringNum(0, 16); err == nil {
		t.Error("SetVringNum on a closed device succeeded")
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
