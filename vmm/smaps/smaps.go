// Package smaps sums a process's resident memory from /proc/PID/smaps,
// leaving out the mappings a caller names (guest RAM): what --stats and
// the benchmarks report for gokvm and its peer.
package smaps

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sum adds up the Rss and the Anonymous part of it (KiB) over the
// mappings of an smaps file for which skip(start, end) is false.
func Sum(r io.Reader, skip func(start, end uint64) bool) (rss, anon int64, _ error) {
	skipping := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				return 0, 0, fmt.Errorf("parsing smaps line %q", line)
			}
			skipping = skip(start, end)
			continue
		}
		if skipping || len(f) < 2 || (f[0] != "Rss:" && f[0] != "Anonymous:") {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing smaps line %q: %w", line, err)
		}
		if f[0] == "Rss:" {
			rss += kb
		} else {
			anon += kb
		}
	}
	return rss, anon, sc.Err()
}
