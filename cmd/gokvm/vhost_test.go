package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
)

// TestVhostFlags: bad vhost= and --vsock values are usage errors naming
// them, before anything is opened.
func TestVhostFlags(t *testing.T) {
	kernel := writeFile(t, t.TempDir(), "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "mode=tap,vhost=yes"}, "vhost=yes"},
		{[]string{"--vsock", "0"}, "--vsock 0"},
		{[]string{"--vsock", "2"}, "vsock_cid: 2"},
		{[]string{"--vsock", "4294967295"}, "vsock_cid: 4294967295"},
		{[]string{"--vsock", "-3"}, "-vsock"},
		{[]string{"--vsock", "three"}, "-vsock"},
	} {
		code, _, stderr := runCLI(t, append([]string{"run", "-k", kernel}, c.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: status %d, %q; want %d naming %q", c.args, code, stderr, machine.ExitUsage, c.want)
		}
	}
	o, err := parseRunFlags([]string{"-k", kernel, "--vsock", "42", "-n", "mode=tap,vhost=on"})
	if err != nil || o.spec.VsockCID != 42 || !o.spec.NICs[0].Vhost {
		t.Errorf("--vsock 42 -n mode=tap,vhost=on: %+v, %v", o, err)
	}
}

// TestVhostDeviceMissing: on a host without /dev/vhost-net (or
// /dev/vhost-vsock), asking for it is a usage error naming the device.
func TestVhostDeviceMissing(t *testing.T) {
	kernel := writeFile(t, t.TempDir(), "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, c := range []struct {
		dev  string
		args []string
	}{
		{"/dev/vhost-net", []string{"-n", "mode=tap,tapif=gkvhostt0,vhost=1"}},
		{"/dev/vhost-vsock", []string{"--vsock", "77"}},
	} {
		if _, err := os.Stat(c.dev); !os.IsNotExist(err) {
			t.Logf("%s exists here: the e2e tests use it", c.dev)
			continue
		}
		if filepath.Base(c.dev) == "vhost-net" {
			if _, err := os.Stat("/dev/net/tun"); err != nil || os.Geteuid() != 0 {
				t.Logf("no tap without root and /dev/net/tun; vhost-net not tried")
				continue
			}
		}
		code, _, stderr := runCLI(t, append([]string{"run", "-k", kernel}, c.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, c.dev) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: status %d, %q; want %d and one line naming %s", c.args, code, stderr, machine.ExitUsage, c.dev)
		}
	}
}
