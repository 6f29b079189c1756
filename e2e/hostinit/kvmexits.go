package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gokvm/gokvm/vmm/kvmstats"
)

// KVM's binary statistics count a vcpu's exits but on arm64 say little of
// why: an exit that is neither MMIO, WFx, HVC nor a signal may be a
// stage-2 fault, a host interrupt or a trapped system register. The
// kvm:kvm_exit tracepoint carries the exit's type and exception class;
// a histogram trigger on it (CONFIG_HIST_TRIGGERS) counts them in the
// kernel, at no cost to the guest beyond the tracepoint's.
//
//	kvmexits start   arm an empty histogram of the host's vcpu exits
//	kvmexits print   print it as one HOST-KVM-EXITS line, and disarm it

// kvmExitHist is the trigger; the same text with a leading "!" removes it.
const kvmExitHist = "hist:keys=ret,esr_ec:size=256"

// kvmExitKind names the exits by their arm64 exception class
// (ESR_ELx_EC_*), for a trap; ret is ARM_EXCEPTION_* (0 an interrupt,
// 1 an SError, 2 a trap, 3 an illegal exception return).
func kvmExitKind(ret, ec uint64) string {
	switch ret {
	case 0:
		return "irq"
	case 1:
		return "serror"
	case 3:
		return "il"
	}
	switch ec {
	case 0x01:
		return "wfx"
	case 0x16, 0x17:
		return "hvc" // HVC64 and SMC64: PSCI and SMCCC calls
	case 0x18:
		return "sysreg"
	case 0x20:
		return "iabt" // instruction abort from the guest: a stage-2 fault
	case 0x24:
		return "dabt" // data abort: a stage-2 fault or an MMIO access
	}
	return fmt.Sprintf("ec%#x", ec)
}

var histLine = regexp.MustCompile(`\{ ret:\s*(-?\d+), esr_ec:\s*(\d+) \} hitcount:\s*(\d+)`)

func kvmExitsTool(args []string) error {
	if len(args) != 2 || (args[1] != "start" && args[1] != "print") {
		return errors.New("usage: kvmexits start|print")
	}
	dir, err := kvmstats.TracingDir()
	if err != nil {
		return err
	}
	ev := filepath.Join(dir, "events/kvm/kvm_exit")
	trigger := filepath.Join(ev, "trigger")
	writeTrigger := func(t string) error { return kvmstats.AddTrigger(ev, t) }
	if args[1] == "start" {
		// An earlier run's histogram, if one is armed (else the kernel
		// refuses the removal): a new trigger starts at zero.
		writeTrigger("!" + kvmExitHist)
		if err := writeTrigger(kvmExitHist); err != nil {
			return fmt.Errorf("arming the kvm_exit histogram (%s): %w", trigger, err)
		}
		return nil
	}
	hist := filepath.Join(ev, "hist")
	b, err := os.ReadFile(hist)
	if err != nil {
		return fmt.Errorf("reading %s: %w", hist, err)
	}
	if err := writeTrigger("!" + kvmExitHist); err != nil {
		return fmt.Errorf("disarming the kvm_exit histogram (%s): %w", trigger, err)
	}
	line, err := kvmExitsLine(string(b))
	if err != nil {
		return fmt.Errorf("%s: %w", hist, err)
	}
	fmt.Println(line)
	return nil
}

// kvmExitsLine sums a kvm_exit histogram by kind: HOST-KVM-EXITS
// total=N, then KIND=N for each kind seen, in name order. A text that is
// not an armed histogram (no trigger was set: every count would read 0)
// is an error.
func kvmExitsLine(hist string) (string, error) {
	if !strings.Contains(hist, "Totals:") {
		return "", errors.New("no kvm_exit histogram armed (kvmexits start failed or was not run)")
	}
	// Every kind the bench reads is printed, 0 when none was seen.
	counts := map[string]uint64{"irq": 0, "wfx": 0, "hvc": 0, "sysreg": 0, "iabt": 0, "dabt": 0}
	var total uint64
	for _, m := range histLine.FindAllStringSubmatch(hist, -1) {
		// ret is an int: bit 31 (an SError was pending too) may print
		// it negative, or sign-extended as a u64.
		ret, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			ret = uint64(v)
		}
		ret &= 0x7fffffff
		ec, _ := strconv.ParseUint(m[2], 10, 64)
		n, _ := strconv.ParseUint(m[3], 10, 64)
		counts[kvmExitKind(ret, ec)] += n
		total += n
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := []string{"HOST-KVM-EXITS", fmt.Sprintf("total=%d", total)}
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " "), nil
}
