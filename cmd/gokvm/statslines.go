package main

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/gokvm/gokvm/devices/exitdev"
	"github.com/gokvm/gokvm/vmm"
)

// statsLines are the --stats figures of a run that ended, one line each,
// for run and sandbox alike: start-up, memory, what KVM counted for the
// VM (exits by reason, halts), gokvm's CPU time and context switches, and
// the devices' interrupts and notification wakeups.
func statsLines(s vmm.Stats) []string {
	lines := []string{fmt.Sprintf("first KVM_RUN %.1f ms after start; the guest ran %.1f ms; %d MMIO exits; RSS without guest RAM %d KiB (%d KiB anonymous)",
		ms(s.ToFirstRun), ms(s.Ran), s.MMIOExits, s.RSSWithoutGuestKiB, s.AnonWithoutGuestKiB)}
	if len(s.Startup) > 0 {
		parts := make([]string, 0, len(s.Startup)+1)
		for _, st := range s.Startup {
			parts = append(parts, fmt.Sprintf("%s %.1f", st.Name, ms(st.After)))
		}
		if s.ToFirstRun > 0 {
			parts = append(parts, fmt.Sprintf("first KVM_RUN %.1f", ms(s.ToFirstRun)))
		}
		lines = append(lines, "start-up, ms after start: "+strings.Join(parts, ", "))
	}
	if len(s.MMIOByDevice) > 0 {
		parts := make([]string, len(s.MMIOByDevice))
		for i, d := range s.MMIOByDevice {
			parts[i] = fmt.Sprintf("%s %d", d.Name, d.Accesses)
		}
		lines = append(lines, "MMIO exits by device: "+strings.Join(parts, ", "))
	}
	switch {
	case s.KVMErr != nil:
		lines = append(lines, fmt.Sprintf("KVM's counters are unavailable: %v", s.KVMErr))
	case s.KVM != nil:
		lines = append(lines, fmt.Sprintf("KVM (%s): %s", s.KVMSource, s.KVM.KVMLine()))
		if len(s.KVMVcpus) > 1 {
			for i, c := range s.KVMVcpus {
				lines = append(lines, fmt.Sprintf("KVM vcpu%d: %s", i, c.KVMLine()))
			}
		}
	}
	switch {
	case s.HostErr != nil:
		lines = append(lines, fmt.Sprintf("gokvm's CPU time is unavailable: %v", s.HostErr))
	case s.Host != nil:
		h := s.Host
		sec := func(us uint64) float64 { return float64(us) / 1e6 }
		// The kernel counts guest time as user time too.
		total := h["host.user_us"] + h["host.system_us"]
		guest := min(h["host.guest_us"], total)
		lines = append(lines, fmt.Sprintf("CPU %.2f s user, %.2f s system, of which %.2f s in the guest (%.2f s outside it); %d voluntary and %d involuntary context switches",
			sec(h["host.user_us"]), sec(h["host.system_us"]), sec(guest), sec(total-guest),
			h["host.voluntary_switches"], h["host.involuntary_switches"]))
	}
	return append(lines, fmt.Sprintf("gokvm's devices raised %d interrupts (irqfd writes; not those vhost raises in the kernel) and woke %d times for guest notifications (ioeventfds)", s.Interrupts, s.Wakeups))
}

// timelineLine is the --stats line of a sandbox run: when each step of
// the guest init reached the status device, in ms after start ("-" for a
// step not reached in this run: a boot is given no command, an init from
// an older gokvm says nothing of its command's exit).
func timelineLine(tl exitdev.Timeline, start time.Time) string {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.1f", ms(t.Sub(start)))
	}
	return fmt.Sprintf("the sandbox init, ms after start: command given %s, command seen %s, ready %s, started %s, exited %s, status %s",
		at(tl.Given), at(tl.Seen), at(tl.Ready), at(tl.Started), at(tl.Exited), at(tl.Reported))
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// closeLine is the last --stats line: how long closing the machine took
// (its devices stopped and their backends flushed and closed, the vcpus,
// the VM and guest RAM released), printed once that is done.
func closeLine(d time.Duration) string {
	return fmt.Sprintf("closing the machine took %.1f ms", ms(d))
}

// closeTimed closes a machine (run's or sandbox's) and, with --stats,
// logs closeLine after it.
func closeTimed(close func() error, stats bool, logger *log.Logger) error {
	t := time.Now()
	err := close()
	if stats {
		logger.Printf("stats: %s", closeLine(time.Since(t)))
	}
	return err
}
