package machine

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio/ninep"
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
	in, err := seccomp.Install(seccomp.Options{Mode: mode, Prefix: "gokvm: ", ExitStatus: ExitFailure, Extra: m.extraSystemCalls()})
	if err != nil {
		return fmt.Errorf("%w (--seccomp off runs without the filter)", err)
	}
	if !in.Listener {
		m.log.Printf("seccomp: this kernel cannot name a forbidden system call (Linux 5.7 can): one ends gokvm with SIGSYS and a Go traceback")
	}
	return nil
}

// extraSystemCalls are the calls this machine's devices need beyond the
// allow-list: a 9p share works on host files while the guest runs, so its
// file system calls are allowed only when the machine has a share.
func (m *Machine) extraSystemCalls() []seccomp.Call {
	calls := append([]seccomp.Call(nil), m.extraCalls...)
	if len(m.spec.Shares) == 0 {
		return calls
	}
	for _, name := range ninep.SystemCalls {
		c := seccomp.Call{Name: name, Why: "a 9p share (--9p) serves host files"}
		if name == "fcntl" {
			// Only the command the share adds; the rest stay as limited.
			c.Args = &seccomp.ArgRule{Index: 1, Values: []seccomp.Value{
				{V: unix.F_DUPFD_CLOEXEC, Name: "F_DUPFD_CLOEXEC", Why: "a 9p share duplicates a file's descriptor"}}}
		}
		calls = append(calls, c)
	}
	return calls
}
