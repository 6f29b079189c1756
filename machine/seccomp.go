package machine

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/seccomp"
	"golang.org/x/sys/unix"
)

// installSeccomp puts the spec's system call filter on every thread of
// the process, once the VM is built and before its first KVM_RUN: from
// here on, only what the run phase needs is allowed (vmm/seccomp's
// allow-list), and a forbidden call ends the process with ExitFailure and
// a message naming it. The filter stays for the life of the process.
func (m *Machine) installSeccomp() error {
	mode, err := seccomp.ParseMode(m.spec.Seccomp)
	if err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	if mode == seccomp.Off {
		return nil
	}
	extra := m.extraSystemCalls()
	extra = append(extra, m.userNetSystemCalls()...)
	extra = append(extra, m.callerCalls...)
	in, err := seccomp.Install(seccomp.Options{Mode: mode, Prefix: "gokvm: ", ExitStatus: ExitFailure, Extra: extra})
	if err != nil {
		return fmt.Errorf("%w (--seccomp off runs without the filter)", err)
	}
	if !in.Listener {
		m.log.Printf("seccomp: this kernel cannot name a forbidden system call (Linux 5.7 can): one ends gokvm with SIGSYS and a Go traceback")
	}
	m.MarkStartup("system call filter installed")
	return nil
}

// extraSystemCalls are the calls this machine's devices and options need
// beyond the allow-list, each only when the machine has what needs it.
func (m *Machine) extraSystemCalls() []seccomp.Call {
	calls := m.vhostSystemCalls()
	calls = append(calls, m.pciSystemCalls()...)
	calls = append(calls, m.shareSystemCalls()...)
	calls = append(calls, m.recorderSystemCalls()...)
	calls = append(calls, m.flashSystemCalls()...)
	return append(calls, m.statsSystemCalls()...)
}

// pciSystemCalls: a virtio-pci device's MSI-X vector is routed (the
// VM's routing table set again) when the guest programs its message.
func (m *Machine) pciSystemCalls() []seccomp.Call {
	if m.spec.Transport != TransportPCI {
		return nil
	}
	return []seccomp.Call{{Name: "ioctl", Why: "virtio-pci's MSI-X vectors routed as the guest programs them",
		Args: &seccomp.ArgRule{Index: 1, Values: []seccomp.Value{
			{V: kvm.RequestSetGSIRouting, Name: "KVM_SET_GSI_ROUTING", Why: "an MSI-X message's route"}}}}}
}

// flashSystemCalls: a flash maps its array into the guest in read-array
// mode and unmaps it for the others, as the guest's commands switch.
func (m *Machine) flashSystemCalls() []seccomp.Call {
	if m.spec.Flash == "" {
		return nil
	}
	return []seccomp.Call{{Name: "ioctl", Why: "a CFI flash (--flash) maps and unmaps its array as the guest switches read modes",
		Args: &seccomp.ArgRule{Index: 1, Values: []seccomp.Value{
			{V: kvm.RequestSetUserMemoryRegion, Name: "KVM_SET_USER_MEMORY_REGION", Why: "the flash array in or out of the guest"}}}}}
}

// shareSystemCalls are a 9p share's file system calls, made while the
// guest runs: ninep's lists, named as x/sys/unix makes them on 64-bit
// Linux (seccomp.UnixCall gives each architecture's names). When every
// share is read-only nothing that writes is allowed: no write calls,
// openat only for reading, and openat2, whose flags are in a struct the
// filter cannot read, fails with ENOSYS, on which the share opens with
// openat instead.
func (m *Machine) shareSystemCalls() []seccomp.Call {
	if len(m.spec.Shares) == 0 {
		return nil
	}
	readOnly := true
	for _, sh := range m.spec.Shares {
		readOnly = readOnly && sh.ReadOnly
	}
	var calls []seccomp.Call
	for _, name := range ninep.ReadSystemCalls {
		c := seccomp.Call{Name: name, Why: "a 9p share (--9p) serves host files"}
		switch {
		case name == "fcntl":
			// Only the command the share adds; the rest stay as limited.
			c.Args = &seccomp.ArgRule{Index: 1, Values: []seccomp.Value{
				{V: unix.F_DUPFD_CLOEXEC, Name: "F_DUPFD_CLOEXEC", Why: "a 9p share duplicates a file's descriptor"}}}
		case name == "openat" && readOnly:
			c = seccomp.ReadOnlyOpenat("every 9p share is read-only: host files are opened for reading only")
		case name == "openat2" && readOnly:
			c.Why = "every 9p share is read-only, and openat2's flags are out of the filter's reach: it fails with ENOSYS, and the share opens with openat"
			c.Fail = unix.ENOSYS
		}
		calls = append(calls, seccomp.UnixCall(c)...)
	}
	for _, name := range ninep.WriteSystemCalls {
		c := seccomp.Call{Name: name, Why: "a writable 9p share changes host files"}
		if readOnly {
			if name != "fsync" {
				continue
			}
			// A read-only share still answers Tfsync with fsync, and
			// a guest kernel sends one as it writes an inode back
			// (an atime): refused as a change, it must not stop gokvm.
			c.Why = "every 9p share is read-only: a guest's fsync (Tfsync) fails with EROFS"
			c.Fail = unix.EROFS
		}
		calls = append(calls, seccomp.UnixCall(c)...)
	}
	return calls
}

// statsSystemCalls: --stats reads /proc/self/smaps and /proc/self/stat
// after the run (vmm's Stats), and KVM's statistics for the VM (pread on
// the descriptors KVM_GET_STATS_FD gave while the VM was built, or
// read-only opens of its debugfs files), the only files the run phase
// opens by itself; the filter allows those opens, for reading, and
// getrusage (gokvm's context switches), only when the caller asks for the
// figures.
func (m *Machine) statsSystemCalls() []seccomp.Call {
	if !m.stats {
		return nil
	}
	return []seccomp.Call{
		seccomp.ReadOnlyOpenat("--stats reads /proc/self/smaps and /proc/self/stat after the run, and the VM's debugfs statistics on a kernel without KVM_GET_STATS_FD"),
		{Name: "getrusage", Why: "--stats reads gokvm's context switches after the run"},
	}
}
