package machine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxCPUs is how many CPUs a unix.CPUSet holds (glibc's CPU_SETSIZE).
const maxCPUs = 1024

// parseCPUList reads a CPU list as taskset -c and /proc take it ("1",
// "0-3,6") and checks every CPU is one gokvm may run on.
func parseCPUList(s string) ([]int, error) {
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a CPU number or range like 2-5", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a CPU range like 2-5", part)
			}
		}
		if b >= maxCPUs {
			return nil, fmt.Errorf("CPU %d is beyond the %d CPUs gokvm can pin to", b, maxCPUs)
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("reading gokvm's own CPU affinity: %w", err)
	}
	cpus := make([]int, 0, len(seen))
	for c := range seen {
		if !allowed.IsSet(c) {
			return nil, fmt.Errorf("CPU %d is not one gokvm may run on (it has %d CPUs)", c, allowed.Count())
		}
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	return cpus, nil
}
