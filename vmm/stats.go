package vmm

import (
	"os"
	"time"

	"github.com/gokvm/gokvm/vmm/smaps"
)

// Stats are figures about a run, for benchmarks and --stats.
type Stats struct {
	// ToFirstRun is the time from Config.Start to the first KVM_RUN.
	ToFirstRun time.Duration
	// MMIOExits counts MMIO exits on all vcpus.
	MMIOExits uint64
	// RSSWithoutGuestKiB is gokvm's resident memory less the resident
	// part of guest RAM, or -1 when /proc does not tell or
	// Config.ReadRSS is off.
	RSSWithoutGuestKiB int64
	// AnonWithoutGuestKiB is the anonymous (private, not file-backed)
	// part of it: the Go heap and stacks, what gokvm itself holds. The
	// rest is the gokvm binary's pages, shared with the page cache.
	AnonWithoutGuestKiB int64
}

// Stats reports the figures gathered so far.
func (m *Machine) Stats() Stats {
	s := Stats{MMIOExits: m.mmioExits.Load(), RSSWithoutGuestKiB: -1, AnonWithoutGuestKiB: -1}
	if t := m.firstRun.Load(); t != 0 {
		s.ToFirstRun = time.Unix(0, t).Sub(m.cfg.Start)
	}
	if m.cfg.ReadRSS && m.mem != nil && m.mem.HostAddr() != 0 {
		if kb, anon, err := rssWithout(m.mem.HostAddr()); err == nil {
			s.RSSWithoutGuestKiB, s.AnonWithoutGuestKiB = kb, anon
		}
	}
	return s
}

// rssWithout reads /proc/self/smaps and sums the Rss, and the Anonymous
// part of it, of every mapping except the one starting at exclude.
func rssWithout(exclude uintptr) (total, anon int64, _ error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return smaps.Sum(f, func(start, _ uint64) bool { return uintptr(start) == exclude })
}

// Started reports whether a vcpu has entered the guest.
func (m *Machine) Started() bool { return m.firstRun.Load() != 0 }
