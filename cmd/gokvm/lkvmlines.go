package main

import (
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm"
)

// kvmtool's stderr lines that test harnesses read, which gokvm prints on
// the same events besides its own messages. kvmtool prints them through
// util/util.c's report(): a space, then " Info: " or " Fatal: ".
const (
	// kvmtoolEndedNormally is builtin-run.c's kvm_cmd_run_exit line,
	// printed at INFO level when vcpu 0 left its loop without an error.
	kvmtoolEndedNormally = "  Info: KVM session ended normally."
	// kvmtoolFatalPrefix starts die()'s lines.
	kvmtoolFatalPrefix = "  Fatal: "
)

// kvmtoolSessionEnded says whether kvmtool ends a run with this outcome
// by printing kvmtoolEndedNormally: it does on every system event a vcpu
// reports (kvm-cpu.c treats a reset, and a crash, as a shutdown) and on
// Ctrl-A x (term.c), but not when a signal kills it (SIGTERM, or SIGINT
// without a terminal), and it has no timeout of its own.
func kvmtoolSessionEnded(o vmm.Outcome, escaped bool) bool {
	switch o {
	case vmm.OutcomePowerOff, vmm.OutcomeReset, vmm.OutcomeCrash:
		return true
	case vmm.OutcomeStopped:
		return escaped
	}
	return false
}

// kvmtoolFatal is kvmtool's die() line for a failure gokvm reports in its
// own words too, or "". kvm.c dies with "Unable to open kernel FILE" (and
// initrd), and with "unable to load firmware image FILE: ERROR" for a
// firmware it cannot open; kvm-unit-tests' scripts/vmm.bash reads the
// kernel's line to tell a working VMM from one that cannot run its tests.
func kvmtoolFatal(err error) string {
	var missing *machine.MissingFileError
	switch {
	case !errors.As(err, &missing):
		return ""
	case missing.What == "firmware":
		return fmt.Sprintf("%sunable to load firmware image %s: No such file or directory", kvmtoolFatalPrefix, missing.Path)
	}
	return fmt.Sprintf("%sUnable to open %s %s", kvmtoolFatalPrefix, missing.What, missing.Path)
}

// isClosed says whether ch is closed (console.escaped: Ctrl-A x was typed).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
