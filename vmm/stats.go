package vmm

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stats are figures about a run, for benchmarks and --stats.
type Stats struct {
	// ToFirstRun is the time from Config.Start to the first KVM_RUN.
	ToFirstRun time.Duration
	// MMIOExits counts MMIO exits on all vcpus.
	MMIOExits uint64
	// RSSWithoutGuestKiB is gokvm's resident memory less the resident
	// part of guest RAM, or -1 when /proc does not tell.
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
	if m.mem != nil && m.mem.HostAddr() != 0 {
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
	skip := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			start, err := strconv.ParseUint(strings.SplitN(fields[0], "-", 2)[0], 16, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parsing smaps line %q: %w", line, err)
			}
			skip = uintptr(start) == exclude
			continue
		}
		if (fields[0] == "Rss:" || fields[0] == "Anonymous:") && !skip && len(fields) >= 2 {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parsing smaps line %q: %w", line, err)
			}
			if fields[0] == "Rss:" {
				total += kb
			} else {
				anon += kb
			}
		}
	}
	return total, anon, sc.Err()
}

// Started reports whether a vcpu has entered the guest.
func (m *Machine) Started() bool { return m.firstRun.Load() != 0 }
