package machine

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/gokvm/gokvm/vmm"
)

// ErrRestoreSpec says a restore was given a spec change it cannot take.
var ErrRestoreSpec = errors.New("a restored machine is the saved one")

// RestoreSpec is the saved spec with what may change at a restore taken
// from s. How the machine runs: the timeout, the seccomp mode and where
// the KVM device is. Where its backends are, by position, as long as the
// guest finds the same devices: a disk's image (the same size and serial:
// virtio-blk's saved state checks both against the image), a NIC's tap
// and, on a user network, its hostfwd rules (a backend is opened again at
// a restore, not saved). A field s leaves at its zero value is the saved
// one's; disks and NICs given must be as many as were saved. Anything
// else that differs (vcpus, memory, the kernel, a disk's read-only mode,
// a NIC's mode or MAC, ...) is refused with an error wrapping
// ErrRestoreSpec, naming the field, a vmm.ConfigError.
func (sv *Saved) RestoreSpec(s Spec) (Spec, error) {
	r := sv.Spec
	if s.Timeout != "" {
		r.Timeout = s.Timeout
	}
	if s.Seccomp != "" {
		r.Seccomp = s.Seccomp
	}
	if s.KVMDevice != "" {
		r.KVMDevice = s.KVMDevice
	}
	if err := sameMachine(sv.Spec, s); err != nil {
		return Spec{}, err
	}
	var err error
	if s.Disks != nil {
		if r.Disks, err = restoreDisks(sv.Spec.Disks, s.Disks); err != nil {
			return Spec{}, err
		}
	}
	if s.NICs != nil {
		if r.NICs, err = restoreNICs(sv.Spec.NICs, s.NICs); err != nil {
			return Spec{}, err
		}
	}
	return r, nil
}

// restoreErr is RestoreSpec's refusal of a change to field.
func restoreErr(field string, saved, now any) error {
	return &vmm.ConfigError{Err: fmt.Errorf("--restore: %w: %s is %v in the saved machine, %v here", ErrRestoreSpec, field, saved, now)}
}

// sameMachine checks the fields of s that may not change: each that s
// gives (not its zero value) must be the saved spec's.
func sameMachine(saved, s Spec) error {
	for _, f := range []struct {
		name       string
		saved, now any
	}{
		{"kernel", saved.Kernel, s.Kernel},
		{"firmware", saved.Firmware, s.Firmware},
		{"firmware_address", saved.FirmwareAddress, s.FirmwareAddress},
		{"flash", saved.Flash, s.Flash},
		{"initrd", saved.Initrd, s.Initrd},
		{"cmdline", saved.Cmdline, s.Cmdline},
		{"aarch32", saved.AArch32, s.AArch32},
		{"cpus", saved.CPUs, s.CPUs},
		{"memory", saved.Memory, s.Memory},
		{"irqchip", saved.IRQChip, s.IRQChip},
		{"console", saved.Console, s.Console},
		{"rng", saved.RNG, s.RNG},
		{"transport", saved.Transport, s.Transport},
		{"pmu", saved.PMU, s.PMU},
		{"disable_sve", saved.DisableSVE, s.DisableSVE},
		{"sve_max_vl", saved.SVEMaxVL, s.SVEMaxVL},
		{"disable_ptrauth", saved.DisablePtrAuth, s.DisablePtrAuth},
		{"vcpu_affinity", saved.VcpuAffinity, s.VcpuAffinity},
		{"vsock_cid", saved.VsockCID, s.VsockCID},
	} {
		if !reflect.ValueOf(f.now).IsZero() && f.now != f.saved {
			return restoreErr(f.name, f.saved, f.now)
		}
	}
	if s.Shares != nil && !reflect.DeepEqual(saved.Shares, s.Shares) {
		return restoreErr("shares", saved.Shares, s.Shares)
	}
	return nil
}

// restoreDisks is the saved disks with the images of given, by position.
func restoreDisks(saved, given []Disk) ([]Disk, error) {
	if len(given) != len(saved) {
		return nil, restoreErr("the number of disks", len(saved), len(given))
	}
	out := slices.Clone(saved)
	for i, g := range given {
		d := &out[i]
		field := func(name string) string { return fmt.Sprintf("disks[%d].%s", i, name) }
		switch {
		case g.ReadOnly != d.ReadOnly:
			return nil, restoreErr(field("read_only"), d.ReadOnly, g.ReadOnly)
		case g.Direct != d.Direct:
			return nil, restoreErr(field("direct"), d.Direct, g.Direct)
		case g.Serial != "" && g.Serial != d.serial():
			return nil, restoreErr(field("serial"), d.serial(), g.Serial)
		}
		if g.Path != "" && g.Path != d.Path {
			// The serial the guest knew stays, though it was the
			// saved image's name.
			d.Serial = d.serial()
			d.Path = g.Path
		}
	}
	return out, nil
}

// serial is what the guest reads as the disk's serial: its own, or the
// image's file name (blk.DiskOptions.Serial).
func (d Disk) serial() string {
	if d.Serial != "" {
		return d.Serial
	}
	return filepath.Base(d.Path)
}

// restoreNICs is the saved NICs with the taps and hostfwd rules of given,
// by position.
func restoreNICs(saved, given []NIC) ([]NIC, error) {
	if len(given) != len(saved) {
		return nil, restoreErr("the number of NICs", len(saved), len(given))
	}
	out := slices.Clone(saved)
	for i, g := range given {
		n := &out[i]
		field := func(name string) string { return fmt.Sprintf("nics[%d].%s", i, name) }
		mode := g.Mode
		if mode == "" {
			mode = NICModeTap
		}
		switch {
		case mode != n.Mode:
			return nil, restoreErr(field("mode"), n.Mode, mode)
		case g.Vhost != n.Vhost:
			return nil, restoreErr(field("vhost"), n.Vhost, g.Vhost)
		case g.GuestMAC != "" && !sameMAC(g.GuestMAC, n.GuestMAC):
			// The saved MAC is the one the guest knows, also where it
			// was the default made from the saved tap's name.
			return nil, restoreErr(field("guest_mac"), n.GuestMAC, g.GuestMAC)
		}
		if g.TapIf != "" {
			n.TapIf = g.TapIf
		}
		if g.HostFwd != nil {
			n.HostFwd = slices.Clone(g.HostFwd)
		}
	}
	return out, nil
}

// sameMAC reports whether two spellings are the same MAC address.
func sameMAC(a, b string) bool {
	ma, erra := net.ParseMAC(a)
	mb, errb := net.ParseMAC(b)
	if erra != nil || errb != nil {
		return a == b
	}
	return ma.String() == mb.String()
}
