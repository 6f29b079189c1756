package machine

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/seccomp"
	"github.com/gokvm/gokvm/vmm/seccomp/seccomptest"
	"golang.org/x/sys/unix"
)

// machineCalls are the calls m adds to the allow-list, as installSeccomp
// gathers them.
func machineCalls(m *Machine) []seccomp.Call {
	return append(append(m.extraSystemCalls(), m.userNetSystemCalls()...), m.callerCalls...)
}

// onArch are the calls of a list for one architecture, by name.
func onArch(t *testing.T, calls []seccomp.Call, arch string) map[string][]seccomp.Call {
	t.Helper()
	out := map[string][]seccomp.Call{}
	for _, c := range calls {
		if c.AppliesTo(arch) {
			out[c.Name] = append(out[c.Name], c)
		}
	}
	return out
}

// archName is what a share's call, named for 64-bit Linux, is on arch.
func archName(name, arch string) string {
	for _, c := range seccomp.UnixCall(seccomp.Call{Name: name}) {
		if c.AppliesTo(arch) {
			return c.Name
		}
	}
	return ""
}

// readOnlyFlags are the openat flags a read-only open has none of.
const readOnlyFlags = unix.O_WRONLY | unix.O_RDWR | unix.O_CREAT | unix.O_TRUNC | unix.O_APPEND

// TestShareSystemCalls: a 9p share's calls are allowed only with a share;
// when every share is read-only, no call that writes is: openat only for
// reading, openat2 failing with ENOSYS (the share then opens with
// openat), fsync failing with EROFS, the other write calls left out. One
// writable share allows them all. On every architecture, under its
// names.
func TestShareSystemCalls(t *testing.T) {
	ro := Share{Dir: "/ro", Tag: "ro", ReadOnly: true}
	rw := Share{Dir: "/rw", Tag: "rw"}
	for _, tc := range []struct {
		name     string
		shares   []Share
		readOnly bool
	}{
		{"one read-only share", []Share{ro}, true},
		{"two read-only shares", []Share{ro, ro}, true},
		{"a read-only and a writable share", []Share{ro, rw}, false},
		{"a writable share", []Share{rw}, false},
	} {
		m := &Machine{spec: Spec{Shares: tc.shares}}
		for _, arch := range []string{"amd64", "arm64", "arm"} {
			calls := onArch(t, machineCalls(m), arch)
			one := func(name string) (seccomp.Call, bool) {
				cs := calls[archName(name, arch)]
				if len(cs) != 1 {
					t.Errorf("%s, %s: %d entries for %s", tc.name, arch, len(cs), name)
					return seccomp.Call{}, false
				}
				return cs[0], true
			}
			for _, name := range ninep.ReadSystemCalls {
				c, ok := one(name)
				if !ok {
					continue
				}
				switch {
				case name == "fcntl":
					if c.Args == nil || c.Args.Index != 1 || len(c.Args.Values) != 1 || c.Args.Values[0].V != unix.F_DUPFD_CLOEXEC || c.Fail != 0 {
						t.Errorf("%s, %s: %s %+v, want F_DUPFD_CLOEXEC only", tc.name, arch, c.Name, c)
					}
				case name == "openat" && tc.readOnly:
					if c.Args == nil || c.Args.Index != 2 || c.Args.Mask&readOnlyFlags != readOnlyFlags || !slices.EqualFunc(c.Args.Values, []seccomp.Value{{V: 0}}, func(a, b seccomp.Value) bool { return a.V == b.V }) || c.Fail != 0 {
						t.Errorf("%s, %s: openat %+v, want it for reading only", tc.name, arch, c)
					}
				case name == "openat2" && tc.readOnly:
					if c.Fail != unix.ENOSYS || c.Args != nil {
						t.Errorf("%s, %s: openat2 %+v, want it to fail with ENOSYS", tc.name, arch, c)
					}
				default:
					if c.Args != nil || c.Fail != 0 {
						t.Errorf("%s, %s: %s %+v, want it allowed", tc.name, arch, name, c)
					}
				}
			}
			for _, name := range ninep.WriteSystemCalls {
				cs := calls[archName(name, arch)]
				switch {
				case !tc.readOnly:
					if len(cs) != 1 || cs[0].Args != nil || cs[0].Fail != 0 {
						t.Errorf("%s, %s: %s %+v, want it allowed", tc.name, arch, name, cs)
					}
				case name == "fsync":
					if len(cs) != 1 || cs[0].Fail != unix.EROFS {
						t.Errorf("%s, %s: fsync %+v, want it to fail with EROFS", tc.name, arch, cs)
					}
				case len(cs) != 0:
					t.Errorf("%s, %s: %s is allowed with only read-only shares: %+v", tc.name, arch, name, cs)
				}
			}
		}
	}
	for _, name := range append(slices.Clone(ninep.ReadSystemCalls), ninep.WriteSystemCalls...) {
		if cs := onArch(t, machineCalls(&Machine{}), "amd64")[name]; len(cs) != 0 {
			t.Errorf("no share, yet %s is allowed: %+v", name, cs)
		}
	}
}

// TestStatsSystemCalls: the run phase opens files (/proc/self/smaps and
// stat, KVM's debugfs) only for --stats, and only then does the filter
// allow openat, for reading, and getrusage.
func TestStatsSystemCalls(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		for _, c := range seccomp.Allowed {
			if c.AppliesTo(arch) && (c.Name == "openat" || c.Name == "openat2") {
				t.Errorf("%s: the base allow-list opens files: %+v", arch, c)
			}
		}
		if cs := onArch(t, machineCalls(&Machine{}), arch)["openat"]; len(cs) != 0 {
			t.Errorf("%s: without --stats: openat %+v", arch, cs)
		}
		cs := onArch(t, machineCalls(&Machine{stats: true}), arch)["openat"]
		if len(cs) != 1 || cs[0].Args == nil || cs[0].Args.Mask&readOnlyFlags != readOnlyFlags {
			t.Errorf("%s: with --stats: openat %+v, want it for reading only", arch, cs)
		}
		// gokvm's context switches (kvmstats.ReadSelf).
		if cs := onArch(t, machineCalls(&Machine{}), arch)["getrusage"]; len(cs) != 0 {
			t.Errorf("%s: without --stats: getrusage %+v", arch, cs)
		}
		if cs := onArch(t, machineCalls(&Machine{stats: true}), arch)["getrusage"]; len(cs) != 1 {
			t.Errorf("%s: with --stats: getrusage %+v, want it allowed", arch, cs)
		}
	}
}

// TestFlashSystemCalls: only a machine with a flash may map memory while
// the guest runs, and only KVM_SET_USER_MEMORY_REGION.
func TestFlashSystemCalls(t *testing.T) {
	for _, c := range seccomp.Ioctls {
		if c.V == kvm.RequestSetUserMemoryRegion {
			t.Errorf("the base allow-list maps guest memory while the guest runs: %+v", c)
		}
	}
	if cs := onArch(t, machineCalls(&Machine{}), "arm64")["ioctl"]; len(cs) != 0 {
		t.Errorf("without a flash: ioctls %+v", cs)
	}
	cs := onArch(t, machineCalls(&Machine{spec: Spec{Flash: "vars.img"}}), "arm64")["ioctl"]
	if len(cs) != 1 || cs[0].Args == nil || len(cs[0].Args.Values) != 1 || cs[0].Args.Values[0].V != kvm.RequestSetUserMemoryRegion {
		t.Errorf("with a flash: ioctls %+v, want KVM_SET_USER_MEMORY_REGION alone", cs)
	}
}

// TestPCISystemCalls: KVM_SET_GSI_ROUTING, for MSI-X vectors routed while
// the guest runs, is allowed only on a virtio-pci machine.
func TestPCISystemCalls(t *testing.T) {
	routing := func(m *Machine) bool {
		for _, c := range onArch(t, machineCalls(m), "arm64")["ioctl"] {
			for _, v := range c.Args.Values {
				if v.V == kvm.RequestSetGSIRouting {
					return true
				}
			}
		}
		return false
	}
	if routing(&Machine{spec: Spec{Transport: TransportMMIO}}) || !routing(&Machine{spec: Spec{Transport: TransportPCI}}) {
		t.Errorf("KVM_SET_GSI_ROUTING allowed: mmio %v, pci %v", routing(&Machine{}), routing(&Machine{spec: Spec{Transport: TransportPCI}}))
	}
	for _, c := range seccomp.Ioctls {
		if c.V == kvm.RequestSetGSIRouting {
			t.Errorf("the base allow-list has KVM_SET_GSI_ROUTING")
		}
	}
}

// TestSystemCallsOnEveryArch: whatever a machine adds to its filter names,
// on each architecture gokvm runs on, a call that architecture has and
// that x/sys/unix (through which gokvm and Go's net make them) makes
// there: not fcntl, fstat or lseek where it makes fcntl64, fstat64 and
// _llseek, and no newfstatat where there is none (32-bit ARM).
func TestSystemCallsOnEveryArch(t *testing.T) {
	specs := map[string]Spec{
		"a writable share":                {Shares: []Share{{Dir: "/rw", Tag: "rw"}}},
		"a read-only share":               {Shares: []Share{{Dir: "/ro", Tag: "ro", ReadOnly: true}}},
		"a user-mode and a vhost-net NIC": {NICs: []NIC{{Mode: NICModeUser}, {Mode: NICModeTap, Vhost: true}}},
		"vsock":                           {VsockCID: 3},
		"virtio-pci":                      {Transport: TransportPCI},
		"a flash":                         {Flash: "vars.img"},
	}
	// And a results file's rename.
	rec, err := NewRecorder(RecorderOptions{Path: filepath.Join(t.TempDir(), "out.json")})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.out.Abort()
	for _, arch := range seccomptest.Arches {
		a := seccomptest.Load(t, arch)
		for what, s := range specs {
			// With --stats and a control socket's calls.
			m := &Machine{spec: s, stats: true, callerCalls: control.SystemCalls, rec: rec}
			for name := range onArch(t, machineCalls(m), arch) {
				switch {
				case !a.Names[name]:
					t.Errorf("%s, %s: %s is allowed, which linux/%s does not have", arch, what, name, arch)
				case !a.Made(name):
					t.Errorf("%s, %s: %s is allowed, which x/sys/unix does not make there", arch, what, name)
				}
			}
		}
	}
}
