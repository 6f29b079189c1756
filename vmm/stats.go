package vmm

import (
	"io"
	"os"
	"time"

	"github.com/gokvm/gokvm/vmm/kvmstats"
	"github.com/gokvm/gokvm/vmm/smaps"
)

// Stats are figures about a run, for benchmarks and --stats.
type Stats struct {
	// ToFirstRun is the time from Config.Start to the first KVM_RUN.
	ToFirstRun time.Duration
	// Ran is the time from the first KVM_RUN to the vcpus' stop (the
	// guest's power-off, a sandbox's final status, a timeout); 0 when
	// the run has not ended or never entered the guest. What a run
	// takes besides ToFirstRun and Ran is its end: devices stopped,
	// figures read, the VM and guest RAM torn down.
	Ran time.Duration
	// Startup is the steps of making and starting the machine marked
	// before its first KVM_RUN (MarkStartup), in order.
	Startup []StartupStep
	// MMIOExits counts MMIO exits on all vcpus.
	MMIOExits uint64
	// MMIOByDevice splits them by the device that served them (by the
	// name of its window), most first; exits no device claimed are not
	// in it.
	MMIOByDevice []WindowAccesses
	// RSSWithoutGuestKiB is gokvm's resident memory less the resident
	// part of guest RAM, or -1 when /proc does not tell or
	// Config.ReadRSS is off.
	RSSWithoutGuestKiB int64
	// AnonWithoutGuestKiB is the anonymous (private, not file-backed)
	// part of it: the Go heap and stacks, what gokvm itself holds. The
	// rest is the gokvm binary's pages, shared with the page cache.
	AnonWithoutGuestKiB int64
	// Interrupts counts the interrupts devices raised (DeviceEnv.Pulse:
	// irqfd writes), Wakeups the times a device's wait for a guest
	// notification (an ioeventfd) returned.
	Interrupts, Wakeups uint64

	// With Config.KVMStats:

	// KVM is what KVM counted for the VM, its vcpus' statistics summed
	// (kvm.exits, kvm.mmio_exit_user, kvm.wfi_exit_stat, ...); nil when
	// the host does not tell, KVMErr saying why.
	KVM kvmstats.Counters
	// KVMVcpus are each vcpu's (from binary statistics only).
	KVMVcpus []kvmstats.Counters
	// KVMSource says where KVM's counters come from: "binary
	// statistics" or the VM's debugfs directory.
	KVMSource string
	KVMErr    error
	// Host is gokvm's CPU time and context switches (kvmstats.ReadSelf),
	// nil when they could not be read, HostErr saying why.
	Host    kvmstats.Counters
	HostErr error
}

// Stats reports the figures gathered so far.
func (m *Machine) Stats() Stats {
	s := Stats{Startup: m.Startup(), MMIOExits: m.mmioExits.Load(), MMIOByDevice: m.bus.Accesses(), RSSWithoutGuestKiB: -1, AnonWithoutGuestKiB: -1,
		Interrupts: m.pulses.Load(), Wakeups: m.wakeups.Load()}
	if t := m.firstRun.Load(); t != 0 {
		s.ToFirstRun = time.Unix(0, t).Sub(m.cfg.Start)
		if end := m.runEnd.Load(); end != 0 {
			s.Ran = time.Duration(end - t)
		}
	}
	if m.cfg.ReadRSS && m.mem != nil && m.mem.HostAddr() != 0 {
		if kb, anon, err := rssWithout(m.mem.HostAddr(), m.mem.HostAddr()+uintptr(m.mem.Size())); err == nil {
			s.RSSWithoutGuestKiB, s.AnonWithoutGuestKiB = kb, anon
		}
	}
	if m.counters != nil {
		s.KVM, s.KVMVcpus, s.KVMSource, s.KVMErr = m.counters.read()
		s.Host, s.HostErr = kvmstats.ReadSelf()
	}
	return s
}

// rssWithout reads /proc/self/smaps and sums the Rss, and the Anonymous
// part of it, of every mapping that does not overlap [lo, hi): guest RAM,
// which is one mapping when booted and several when restored (the RAM
// file's data, anonymous memory for its holes).
func rssWithout(lo, hi uintptr) (total, anon int64, _ error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return smapsWithout(f, lo, hi)
}

// smapsWithout is rssWithout over an smaps text.
func smapsWithout(r io.Reader, lo, hi uintptr) (total, anon int64, _ error) {
	return smaps.Sum(r, func(start, end uint64) bool { return uintptr(start) < hi && uintptr(end) > lo })
}

// Started reports whether a vcpu has entered the guest.
func (m *Machine) Started() bool { return m.firstRun.Load() != 0 }
