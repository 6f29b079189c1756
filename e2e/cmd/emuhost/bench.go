package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// figure is one benchmark row: a name, a unit, and how to read a value off
// a scenario result (false when the result lacks it).
type figure struct {
	name, unit string
	get        func(r scenario.Result) (float64, bool)
}

var (
	statsFirstRun = regexp.MustCompile(`first KVM_RUN ([0-9.]+) ms`)
	statsRSS      = regexp.MustCompile(`RSS without guest RAM ([0-9]+) KiB`)
)

func fromStderr(re *regexp.Regexp, scale float64) func(scenario.Result) (float64, bool) {
	return func(r scenario.Result) (float64, bool) {
		m := re.FindStringSubmatch(r.Stderr)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v * scale, err == nil
	}
}

var bootFigures = []figure{
	{"gokvm start to first KVM_RUN", "ms", fromStderr(statsFirstRun, 1)},
	{"gokvm start to guest init marker", "ms", func(r scenario.Result) (float64, bool) {
		ms := r.LineMS("GOKVM-GUEST-MARKER")
		return float64(ms), ms >= 0
	}},
	{"gokvm start to exit (guest powered off)", "ms", func(r scenario.Result) (float64, bool) {
		return float64(r.ElapsedMS), r.Exit == 0
	}},
	{"gokvm RSS without guest RAM", "MiB", fromStderr(statsRSS, 1.0/1024)},
}

func runBench(b *harness.Build, gic, runs int) error {
	var ss []scenario.Scenario
	for i := 0; i < runs; i++ {
		ss = append(ss, scenario.Scenario{
			Name: fmt.Sprintf("boot-%d", i),
			Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", "256", "--stats",
				"-p", "console=ttyS0 quiet panic=-1 gokvm.do=marker,poweroff"},
		})
	}
	where := "directly on this arm64 host"
	var res map[string]scenario.Result
	if harness.Direct() {
		res = harness.RunDirect(b, ss)
	} else {
		where = fmt.Sprintf("in the emulated arm64 host (qemu-system-aarch64 TCG, GICv%d, -cpu max,pauth=off)", gic)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var err error
		if res, err = harness.RunEmulated(ctx, b, harness.Host{GIC: gic}, ss, nil); err != nil {
			return err
		}
	}
	fmt.Printf("gokvm boot benchmark: %d boots of the Debian arm64 kernel with a Go init, 1 vcpu, 256 MiB, %s\n\n", runs, where)
	fmt.Printf("%-42s %10s %10s %10s  %s\n", "figure", "min", "median", "max", "unit")
	for _, f := range bootFigures {
		var vals []float64
		for _, s := range ss {
			if v, ok := f.get(res[s.Name]); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			fmt.Printf("%-42s %10s %10s %10s  %s\n", f.name, "-", "-", "-", f.unit)
			continue
		}
		sort.Float64s(vals)
		fmt.Printf("%-42s %10.1f %10.1f %10.1f  %s (%d of %d runs)\n", f.name, vals[0], vals[len(vals)/2], vals[len(vals)-1], f.unit, len(vals), runs)
	}
	return nil
}
