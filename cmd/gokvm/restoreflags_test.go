package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

// writeSaved writes a state file (no sections: enough for the flags)
// saved from a machine of spec, with its RAM file beside it, and
// returns its path.
func writeSaved(t *testing.T, dir string, spec machine.Spec) string {
	t.Helper()
	js, err := json.Marshal(spec.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	arch := "arm64"
	if spec.WithDefaults().AArch32 {
		arch = "arm"
	}
	var b bytes.Buffer
	h := snapshot.Header{Version: "test", Arch: arch, Host: snapshot.Host{GIC: "gicv3"}, Spec: js,
		RAM: snapshot.RAM{File: "vm.state.ram", Base: 0x8000_0000, Size: 256 << 20}}
	if err := snapshot.Write(&b, h, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "vm.state.ram", nil)
	return writeFile(t, dir, "vm.state", b.Bytes())
}

// TestRestoreBackendFlags: with --restore, -d and -n give the disks'
// images and the NICs' taps and hostfwd rules again, by position
// (--print-config shows the machine that would be restored); any other
// change to them is a usage error naming the field.
func TestRestoreBackendFlags(t *testing.T) {
	dir := t.TempDir()
	state := writeSaved(t, dir, machine.Spec{
		Kernel: "/boot/Image",
		Disks:  []machine.Disk{{Path: "/img/root.img"}},
		NICs:   []machine.NIC{{Mode: machine.NICModeTap, TapIf: "tap7"}, {Mode: machine.NICModeUser, HostFwd: []string{"tcp::2222-:22"}}},
	})
	code, stdout, stderr := runCLI(t, "run", "--restore", state, "-d", "/copy/root.img", "-n", "tapif=tap8", "-n", "mode=user,hostfwd=tcp::3333-:22", "--print-config")
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	var got machine.Spec
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if d := got.Disks[0]; d.Path != "/copy/root.img" || d.Serial != "root.img" {
		t.Errorf("disk %+v, want the copy with the saved image's serial", d)
	}
	if n := got.NICs[0]; n.TapIf != "tap8" || n.GuestMAC != (machine.Spec{NICs: []machine.NIC{{TapIf: "tap7"}}}).WithDefaults().NICs[0].GuestMAC {
		t.Errorf("NIC %+v, want tap8 with the saved MAC", n)
	}
	if h := got.NICs[1].HostFwd; len(h) != 1 || h[0] != "tcp::3333-:22" {
		t.Errorf("hostfwd %v", h)
	}
	if got.Kernel != "/boot/Image" {
		t.Errorf("kernel %q, want the saved one", got.Kernel)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", "/a.img,ro"}, "disks[0].read_only"},
		{[]string{"-d", "/a.img", "-d", "/b.img"}, "the number of disks"},
		{[]string{"-n", "mode=user", "-n", "mode=user"}, "nics[0].mode"},
		{[]string{"-n", "tapif=tap8,guest_mac=52:54:00:00:00:01", "-n", "mode=user"}, "nics[0].guest_mac"},
		{[]string{"-n", "tapif=tap8,vhost=on", "-n", "mode=user"}, "nics[0].vhost"},
		{[]string{"-n", "bogus"}, "not key=value"},
		{[]string{"--9p", dir + ",t"}, "--9p cannot be given"},
	} {
		code, _, stderr := runCLI(t, append([]string{"run", "--restore", state, "--print-config"}, tc.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: status %d, stderr %q; want %d and one line saying %q", tc.args, code, stderr, machine.ExitUsage, tc.want)
		}
	}
}
