package machine

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// savedSpec is a saved machine's spec, as Snapshot records it (defaults
// filled in): a disk with its default serial, one with its own, a tap
// NIC with its default MAC, a user NIC forwarding a port, a vsock.
func savedSpec() *Saved {
	s := Spec{
		Kernel: "/boot/Image", CPUs: 2, Memory: "512", VsockCID: 9,
		Disks: []Disk{{Path: "/img/root.img"}, {Path: "/img/data.img", Serial: "data", ReadOnly: true}},
		NICs:  []NIC{{Mode: NICModeTap, TapIf: "tap7"}, {Mode: NICModeUser, HostFwd: []string{"tcp::2222-:22"}}},
	}.WithDefaults()
	return &Saved{Spec: s}
}

// TestRestoreSpecBackends: a restore may give disks' images, NICs' taps
// and hostfwd rules again, by position; the guest keeps the serials and
// MACs it knew (also those that were defaults made from the saved
// image's name or tap's name), and what is not given is the saved one's.
func TestRestoreSpecBackends(t *testing.T) {
	sv := savedSpec()
	r, err := sv.RestoreSpec(Spec{
		Timeout: "1m", Seccomp: "log",
		Disks: []Disk{{Path: "/copy/root.img"}, {Path: "/copy/data.img", Serial: "data", ReadOnly: true}},
		NICs:  []NIC{{TapIf: "tap8"}, {Mode: NICModeUser, HostFwd: []string{"tcp::3333-:22"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sv.Spec
	want.Timeout, want.Seccomp = "1m", "log"
	want.Disks = []Disk{{Path: "/copy/root.img", Serial: "root.img"}, {Path: "/copy/data.img", Serial: "data", ReadOnly: true}}
	want.NICs = []NIC{sv.Spec.NICs[0], sv.Spec.NICs[1]}
	want.NICs[0].TapIf = "tap8"
	want.NICs[1].HostFwd = []string{"tcp::3333-:22"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("restore spec\n%s\nwant\n%s", r.JSON(), want.JSON())
	}
	if r.NICs[0].GuestMAC != defaultMAC("tap7", 0).String() {
		t.Errorf("the MAC changed with the tap: %s", r.NICs[0].GuestMAC)
	}
	if err := r.Check(); err != nil {
		t.Errorf("the restore spec does not check: %v", err)
	}
	if r, err := sv.RestoreSpec(Spec{}); err != nil || !reflect.DeepEqual(r, sv.Spec) {
		t.Errorf("nothing given: %v, or not the saved spec", err)
	}
	// The same values given again, in other spellings, are no change.
	same := Spec{Kernel: "/boot/Image", CPUs: 2, NICs: []NIC{{GuestMAC: strings.ToUpper(sv.Spec.NICs[0].GuestMAC)}, {Mode: NICModeUser}}}
	if r, err := sv.RestoreSpec(same); err != nil || !reflect.DeepEqual(r, sv.Spec) {
		t.Errorf("the saved values given again: %v", err)
	}
}

// TestRestoreSpecRefused: any other change is refused, naming the field,
// as a usage error wrapping ErrRestoreSpec.
func TestRestoreSpecRefused(t *testing.T) {
	sv := savedSpec()
	disks := func(d0 Disk) []Disk { return []Disk{d0, {Path: "/img/data.img", Serial: "data", ReadOnly: true}} }
	nics := func(n0 NIC) []NIC { return []NIC{n0, {Mode: NICModeUser}} }
	for _, tc := range []struct {
		spec  Spec
		field string
	}{
		{Spec{CPUs: 4}, "cpus"},
		{Spec{Kernel: "/other"}, "kernel"},
		{Spec{Memory: "1G"}, "memory"},
		{Spec{VsockCID: 10}, "vsock_cid"},
		{Spec{RNG: true}, "rng"},
		{Spec{Shares: []Share{{Dir: "/", Tag: "x"}}}, "shares"},
		{Spec{Disks: []Disk{{Path: "/a"}}}, "the number of disks"},
		{Spec{Disks: disks(Disk{Path: "/a", ReadOnly: true})}, "disks[0].read_only"},
		{Spec{Disks: disks(Disk{Path: "/a", Direct: true})}, "disks[0].direct"},
		{Spec{Disks: disks(Disk{Path: "/a", Serial: "other"})}, "disks[0].serial"},
		{Spec{NICs: []NIC{{}}}, "the number of NICs"},
		{Spec{NICs: nics(NIC{Mode: NICModeUser})}, "nics[0].mode"},
		{Spec{NICs: nics(NIC{Vhost: true})}, "nics[0].vhost"},
		{Spec{NICs: nics(NIC{GuestMAC: "52:54:00:00:00:01"})}, "nics[0].guest_mac"},
	} {
		_, err := sv.RestoreSpec(tc.spec)
		if !errors.Is(err, ErrRestoreSpec) || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.field+" is ") {
			t.Errorf("%+v: %v, want a usage error naming %s", tc.spec, err, tc.field)
		}
	}
}

// TestBuildClosesRestoreOnBadSpec: Build closes Options.Restore even when
// the spec is refused before anything is opened, so a caller that hands
// over a Saved never leaks its RAM file.
func TestBuildClosesRestoreOnBadSpec(t *testing.T) {
	ram, err := os.CreateTemp(t.TempDir(), "ram")
	if err != nil {
		t.Fatal(err)
	}
	sv := &Saved{ram: ram}
	if _, err := Build(Spec{Kernel: "/boot/Image", Memory: "not a size"}, Options{Restore: sv}); err == nil {
		t.Fatal("Build accepted a memory size of \"not a size\"")
	}
	if err := ram.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the saved RAM file is still open after a failed Build (closing it again: %v)", err)
	}
}
