package main

import (
	"errors"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/exitdev"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvmstats"
)

func TestStatsLines(t *testing.T) {
	s := vmm.Stats{
		ToFirstRun: 12300 * time.Microsecond, Ran: 456700 * time.Microsecond,
		Startup:   []vmm.StartupStep{{Name: "checked", After: 3 * time.Millisecond}, {Name: "VM created", After: 4500 * time.Microsecond}},
		MMIOExits: 42, MMIOByDevice: []vmm.WindowAccesses{{Name: "sandbox-exit", Accesses: 30}, {Name: "virtio-9p", Accesses: 12}},
		RSSWithoutGuestKiB: 9000, AnonWithoutGuestKiB: 4000, Interrupts: 70, Wakeups: 65,
		KVM:       kvmstats.Counters{"kvm.exits": 300, "kvm.mmio_exit_user": 42, "kvm.wfi_exit_stat": 100},
		KVMVcpus:  []kvmstats.Counters{{"kvm.exits": 200}, {"kvm.exits": 100}},
		KVMSource: "binary statistics",
		Host:      kvmstats.Counters{"host.user_us": 2_500_000, "host.system_us": 500_000, "host.guest_us": 2_000_000, "host.voluntary_switches": 800, "host.involuntary_switches": 9},
	}
	got := strings.Join(statsLines(s), "\n")
	for _, want := range []string{
		"first KVM_RUN 12.3 ms after start; the guest ran 456.7 ms; 42 MMIO exits; RSS without guest RAM 9000 KiB (4000 KiB anonymous)",
		"\nstart-up, ms after start: checked 3.0, VM created 4.5, first KVM_RUN 12.3\n",
		"\nMMIO exits by device: sandbox-exit 30, virtio-9p 12\n",
		"KVM (binary statistics): exits 300, mmio_exit_user 42, wfi_exit_stat 100",
		"KVM vcpu0: exits 200\nKVM vcpu1: exits 100",
		"CPU 2.50 s user, 0.50 s system, of which 2.00 s in the guest (1.00 s outside it); 800 voluntary and 9 involuntary context switches",
		"gokvm's devices raised 70 interrupts (irqfd writes; not those vhost raises in the kernel) and woke 65 times for guest notifications (ioeventfds)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("--stats lacks %q:\n%s", want, got)
		}
	}
	// One vcpu: no per-vcpu line. No counters: the reason, once.
	s.KVMVcpus = s.KVMVcpus[:1]
	s.KVM, s.KVMErr = nil, errors.New("binary statistics: not supported; debugfs: permission denied")
	got = strings.Join(statsLines(s), "\n")
	if strings.Contains(got, "vcpu0") || !strings.Contains(got, "KVM's counters are unavailable: binary statistics: not supported; debugfs: permission denied") {
		t.Errorf("without KVM's counters:\n%s", got)
	}
}

// TestTimelineLine: each step is its time after start; a step not
// reached is "-".
func TestTimelineLine(t *testing.T) {
	start := time.Unix(100, 0)
	ms := func(f float64) time.Time { return start.Add(time.Duration(f * float64(time.Millisecond))) }
	tl := exitdev.Timeline{Given: ms(12.25), Seen: ms(40), Ready: ms(101.5), Started: ms(230), Reported: ms(415.75)}
	want := "the sandbox init, ms after start: command given 12.2, command seen 40.0, ready 101.5, started 230.0, exited -, status 415.8"
	if got := timelineLine(tl, start); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCloseLine(t *testing.T) {
	if got, want := closeLine(12345*time.Microsecond), "closing the machine took 12.3 ms"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestCloseTimed: closeTimed returns close's error, and logs how long it
// took only with --stats.
func TestCloseTimed(t *testing.T) {
	for _, stats := range []bool{false, true} {
		var buf strings.Builder
		logger := log.New(&buf, "", 0)
		boom := errors.New("flush failed")
		if err := closeTimed(func() error { return boom }, stats, logger); err != boom {
			t.Errorf("stats %v: closeTimed returned %v, want close's error", stats, err)
		}
		if got := strings.HasPrefix(buf.String(), "stats: closing the machine took "); got != stats {
			t.Errorf("stats %v: logged %q", stats, buf.String())
		}
	}
}
