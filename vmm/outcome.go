package vmm

// Outcome is how a guest run ended.
type Outcome int

const (
	// OutcomeError: the run failed; Run's error says why.
	OutcomeError Outcome = iota
	// OutcomePowerOff: the guest powered off (PSCI SYSTEM_OFF).
	OutcomePowerOff
	// OutcomeReset: the guest asked for a reset (PSCI SYSTEM_RESET), as a
	// reboot or a panic with panic=-1 does.
	OutcomeReset
	// OutcomeCrash: KVM reported a guest crash event.
	OutcomeCrash
	// OutcomeStopped: the caller's context was cancelled (a signal, the
	// console escape).
	OutcomeStopped
	// OutcomeTimeout: the caller's context deadline passed (or it was
	// cancelled with context.DeadlineExceeded as the cause).
	OutcomeTimeout
)

func (o Outcome) String() string {
	switch o {
	case OutcomePowerOff:
		return "powered off"
	case OutcomeReset:
		return "reset"
	case OutcomeCrash:
		return "crashed"
	case OutcomeStopped:
		return "stopped"
	case OutcomeTimeout:
		return "timed out"
	}
	return "error"
}
