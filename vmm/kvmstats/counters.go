// Package kvmstats counts what running a VM costs, so that two VMMs can be
// compared request by request: KVM's statistics for the VM (the binary
// statistics file of KVM_GET_STATS_FD, or the VM's debugfs directory), the
// host CPU time and context switches of the VMM's threads (/proc), and
// what the guest counts itself (the interrupts it took, the requests it
// completed). gokvm's --stats reads its own VM this way; `make bench`
// reads gokvm's and kvmtool's, before and after each workload.
package kvmstats

import (
	"io"
	"os"
	"sort"
	"strings"
)

// Counters are named cumulative counts. KVM's statistics are under
// "kvm." (their kernel names: kvm.exits, kvm.mmio_exit_user), the VMM
// process's under "host.", the guest's under "guest.".
type Counters map[string]uint64

// Sub is c less before, name by name: what happened between two
// readings. A name before lacks counts from 0; one that went backwards
// (a debugfs statistic cleared by writing 0 to it) gives 0, not a wrapped
// number.
func (c Counters) Sub(before Counters) Counters {
	d := make(Counters, len(c))
	for k, v := range c {
		if b := before[k]; v >= b {
			d[k] = v - b
		} else {
			d[k] = 0
		}
	}
	return d
}

// Add adds o into c, name by name (a VM's vcpus into one figure).
func (c Counters) Add(o Counters) {
	for k, v := range o {
		c[k] += v
	}
}

// Names are c's names with prefix, sorted.
func (c Counters) Names(prefix string) []string {
	var out []string
	for k := range c {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// readFile reads a small file (a /proc or debugfs entry) without
// os.ReadFile's fstat: gokvm reads its own counters at the end of a run,
// under a seccomp filter that allows read-only opens, read and close, and
// no fstat.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}
