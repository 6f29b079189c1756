package machine

import (
	"github.com/gokvm/gokvm/vmm"
)

// Exit statuses of gokvm, defined once: the command line returns them,
// its help and the README list them, and the end-to-end tests expect them.
const (
	ExitPowerOff = 0 // the guest powered off
	ExitFailure  = 1 // gokvm or the host failed (KVM error, missing capability, I/O)
	ExitUsage    = 2 // bad flags or bad input (kernel, initrd, sizes, disks, taps, config)
	ExitReset    = 3 // the guest reset: reboot, or a panic with panic=-1
	ExitCrash    = 4 // KVM reported a guest crash event
	ExitTimeout  = 5 // the timeout passed before the guest stopped
	ExitStopped  = 6 // stopped from outside: SIGINT, SIGTERM or Ctrl-A x
)

// ExitStatus is the status for a run's outcome.
func ExitStatus(o vmm.Outcome) int {
	switch o {
	case vmm.OutcomePowerOff:
		return ExitPowerOff
	case vmm.OutcomeReset:
		return ExitReset
	case vmm.OutcomeCrash:
		return ExitCrash
	case vmm.OutcomeTimeout:
		return ExitTimeout
	case vmm.OutcomeStopped:
		return ExitStopped
	}
	return ExitFailure
}

// ErrorStatus is the status for an error from Build: usage for a
// configuration error, failure for anything else.
func ErrorStatus(err error) int {
	if vmm.IsConfigError(err) {
		return ExitUsage
	}
	return ExitFailure
}
