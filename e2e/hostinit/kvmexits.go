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

	"golang.org/x/sys/unix"
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

// tracingDir finds tracefs, mounting it where the kernel expects it.
func tracingDir() (string, error) {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	const d = "/sys/kernel/tracing"
	if err := unix.Mount("tracefs", d, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("mounting tracefs on %s: %w", d, err)
	}
	return d, nil
}

var histLine = regexp.MustCompile(`\{ ret:\s*(\d+), esr_ec:\s*(\d+) \} hitcount:\s*(\d+)`)

func kvmExitsTool(args []string) error {
	if len(args) != 2 || (args[1] != "start" && args[1] != "print") {
		return errors.New("usage: kvmexits start|print")
	}
	dir, err := tracingDir()
	if err != nil {
		return err
	}
	ev := filepath.Join(dir, "events/kvm/kvm_exit")
	trigger := filepath.Join(ev, "trigger")
	disarm := func() { os.WriteFile(trigger, []byte("!"+kvmExitHist), 0) }
	if args[1] == "start" {
		disarm() // an earlier run's, if any: a new trigger starts at zero
		if err := os.WriteFile(trigger, []byte(kvmExitHist), 0); err != nil {
			return fmt.Errorf("arming the kvm_exit histogram (%s): %w", trigger, err)
		}
		return nil
	}
	b, err := os.ReadFile(filepath.Join(ev, "hist"))
	disarm()
	if err != nil {
		return err
	}
	fmt.Println(kvmExitsLine(string(b)))
	return nil
}

// kvmExitsLine sums a kvm_exit histogram by kind: HOST-KVM-EXITS
// total=N, then KIND=N for each kind seen, in name order.
func kvmExitsLine(hist string) string {
	counts := map[string]uint64{}
	var total uint64
	for _, m := range histLine.FindAllStringSubmatch(hist, -1) {
		ret, _ := strconv.ParseUint(m[1], 10, 64)
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
	return strings.Join(parts, " ")
}
