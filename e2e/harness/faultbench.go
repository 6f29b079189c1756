package harness

import (
	"regexp"
	"strconv"
)

// FaultBenchResults finds vmm's BenchmarkTinyGuestStage2Fault results in
// a test binary's output, one a variant (host-page-absent,
// host-page-present): one iteration (-test.benchtime 1x), then its
// figures. The end-to-end tests check both are there; `make bench` reads
// their ns/fault.
var FaultBenchResults = regexp.MustCompile(`(?m)^BenchmarkTinyGuestStage2Fault/(host-page-\w+)\S*\s+1\s.*\s(-?[0-9.]+) ns/fault`)

// FaultBenchNS is variant's ns/fault in out, false when out has none.
func FaultBenchNS(out, variant string) (float64, bool) {
	for _, m := range FaultBenchResults.FindAllStringSubmatch(out, -1) {
		if m[1] == variant {
			v, err := strconv.ParseFloat(m[2], 64)
			return v, err == nil
		}
	}
	return 0, false
}
