package main

import "github.com/gokvm/gokvm/vmm"

// Exit statuses; --help and the README list them.
const (
	ExitPowerOff = 0 // the guest powered off
	ExitFailure  = 1 // gokvm or the host failed (KVM error, missing capability, I/O)
	ExitUsage    = 2 // bad flags or bad input (kernel, initrd, sizes)
	ExitReset    = 3 // the guest reset: reboot, or a panic with panic=-1
	ExitCrash    = 4 // KVM reported a guest crash event
	ExitTimeout  = 5 // --timeout passed before the guest stopped
	ExitStopped  = 6 // stopped from outside: SIGINT, SIGTERM or Ctrl-A x
)

const exitStatusHelp = `Exit status:
  0  the guest powered off (PSCI SYSTEM_OFF, e.g. poweroff)
  1  gokvm failed: a KVM error, a host without a needed capability, I/O
  2  usage error: bad flags, or a bad kernel, initrd, memory size, disk or tap
  3  the guest reset (PSCI SYSTEM_RESET: reboot, or a panic with panic=-1)
  4  KVM reported a guest crash event
  5  --timeout passed before the guest powered off or reset
  6  stopped from outside: SIGINT, SIGTERM, or Ctrl-A x on a terminal
`

func exitFor(o vmm.Outcome) int {
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
