package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
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
		v, ok := grepFloat(re, r.Stderr)
		return v * scale, ok
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

// Disk benchmark sizes.
const (
	benchDiskMiB   = 64
	benchRandReads = 2000
	benchDiskRuns  = 2
)

var statsExits = regexp.MustCompile(`([0-9]+) MMIO exits`)

func diskScenarios() []scenario.Scenario {
	var ss []scenario.Scenario
	for i := 0; i < benchDiskRuns; i++ {
		ss = append(ss, scenario.Scenario{
			Name: fmt.Sprintf("disk-%d", i),
			Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", "256", "--stats",
				"-d", "$WORK/bench.img",
				"-p", fmt.Sprintf("console=ttyS0 quiet panic=-1 gokvm.do=modules,bench-seqwrite:vda:%d,bench-seqread:vda:%d,bench-randread:vda:%d,poweroff",
					benchDiskMiB, benchDiskMiB, benchRandReads)},
			Before: [][]string{{"/init", "mksparse", "$WORK/bench.img", fmt.Sprint(benchDiskMiB)}},
			After:  [][]string{{"/init", "benchfile", "$WORK/bench.img", fmt.Sprint(benchDiskMiB), fmt.Sprint(benchRandReads)}},
		})
	}
	return ss
}

// Network benchmark size, each way.
const benchNetMiB = 32

func netScenarios() []scenario.Scenario {
	var ss []scenario.Scenario
	for i := 0; i < benchDiskRuns; i++ {
		ss = append(ss, scenario.Scenario{
			Name: fmt.Sprintf("net-%d", i),
			Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", "512", "--stats",
				"-n", "mode=tap,tapif=tapb0",
				"-p", fmt.Sprintf("console=ttyS0 quiet panic=-1 gokvm.do=modules:virtio_mmio:failover:net_failover:virtio_net,netup:eth0:169.254.1.2/24,tcpsend:169.254.1.1:5001:1:%d,tcprecv:169.254.1.1:5002,poweroff", benchNetMiB)},
			Before:     [][]string{{"/init", "mktap", "tapb0", "169.254.1.1/24"}},
			Background: [][]string{{"/init", "netpeer", "2", fmt.Sprint(benchNetMiB)}},
		})
	}
	return ss
}

func netFigures(bootExits float64) []figure {
	g := func(re string) func(scenario.Result) (float64, bool) {
		rx := regexp.MustCompile(re)
		return func(r scenario.Result) (float64, bool) { return grepFloat(rx, r.Output()) }
	}
	return []figure{
		{"TCP guest to host (host's receive rate)", "MB/s", func(r scenario.Result) (float64, bool) {
			return grepFloat(regexp.MustCompile(`HOST-RECV \S+ \d+ ([0-9.]+) MB/s`), notes(r))
		}},
		{"TCP host to guest (guest's receive rate)", "MB/s", g(`GUEST-RECV \S+ \d+ ([0-9.]+) MB/s`)},
		{"MMIO exits per MiB transferred", "exits", func(r scenario.Result) (float64, bool) {
			v, ok := grepFloat(statsExits, r.Stderr)
			return (v - bootExits) / float64(2*benchNetMiB), ok
		}},
	}
}

func grepFloat(re *regexp.Regexp, s string) (float64, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func notes(r scenario.Result) string { return strings.Join(r.Notes, "\n") }

func diskFigures(bootExits float64) []figure {
	g := func(re string) func(scenario.Result) (float64, bool) {
		rx := regexp.MustCompile(re)
		return func(r scenario.Result) (float64, bool) { return grepFloat(rx, r.Output()) }
	}
	h := func(re string) func(scenario.Result) (float64, bool) {
		rx := regexp.MustCompile(re)
		return func(r scenario.Result) (float64, bool) { return grepFloat(rx, notes(r)) }
	}
	mib := float64(2*benchDiskMiB) + float64(benchRandReads)*4096/(1<<20)
	return []figure{
		{"guest sequential write (1 MiB, O_DIRECT)", "MB/s", g(`GUEST-BENCH seqwrite \S+ ([0-9.]+) MB/s`)},
		{"host writes the same file directly", "MB/s", h(`HOST-BENCH seqwrite ([0-9.]+) MB/s`)},
		{"guest sequential read (1 MiB, O_DIRECT)", "MB/s", g(`GUEST-BENCH seqread \S+ ([0-9.]+) MB/s`)},
		{"host reads the same file directly", "MB/s", h(`HOST-BENCH seqread ([0-9.]+) MB/s`)},
		{"guest 4 KiB random read (O_DIRECT)", "IOPS", g(`GUEST-BENCH randread \S+ ([0-9.]+) IOPS`)},
		{"host 4 KiB random read, same file", "IOPS", h(`HOST-BENCH randread ([0-9.]+) IOPS`)},
		{"MMIO exits per MiB transferred", "exits", func(r scenario.Result) (float64, bool) {
			v, ok := grepFloat(statsExits, r.Stderr)
			return (v - bootExits) / mib, ok
		}},
	}
}

func printTable(title string, figs []figure, ss []scenario.Scenario, res map[string]scenario.Result) {
	defer reportMissing(figs, ss, res)
	fmt.Printf("%s\n\n", title)
	fmt.Printf("%-42s %10s %10s %10s  %s\n", "figure", "min", "median", "max", "unit")
	for _, f := range figs {
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
		fmt.Printf("%-42s %10.1f %10.1f %10.1f  %s (%d of %d runs)\n", f.name, vals[0], vals[len(vals)/2], vals[len(vals)-1], f.unit, len(vals), len(ss))
	}
	fmt.Println()
}

func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	sort.Float64s(vals)
	return vals[len(vals)/2]
}

func runBench(b *harness.Build, host harness.Host, runs int) error {
	var ss []scenario.Scenario
	for i := 0; i < runs; i++ {
		ss = append(ss, scenario.Scenario{
			Name: fmt.Sprintf("boot-%d", i),
			Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", "256", "--stats",
				"-p", "console=ttyS0 quiet panic=-1 gokvm.do=marker,poweroff"},
		})
	}
	all := append(append(append([]scenario.Scenario{}, ss...), diskScenarios()...), netScenarios()...)
	all = append(all, vhostNetScenarios()...)
	where := "directly on this arm64 host"
	var res map[string]scenario.Result
	if harness.Direct() {
		res = harness.RunDirect(b, all)
	} else {
		where = fmt.Sprintf("in the emulated arm64 host (qemu-system-aarch64 TCG, GICv%d, -cpu %s)", host.GIC, host.CPUModel())
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var err error
		if res, err = harness.RunEmulated(ctx, b, host, all, nil); err != nil {
			return err
		}
	}
	printTable(fmt.Sprintf("Boot: %d boots of the Debian arm64 kernel with a Go init, 1 vcpu, 256 MiB, %s", runs, where), bootFigures, ss, res)
	var bootExits []float64
	for _, s := range ss {
		if v, ok := grepFloat(statsExits, res[s.Name].Stderr); ok {
			bootExits = append(bootExits, v)
		}
	}
	printTable(fmt.Sprintf("virtio-blk: %d MiB image on the emulated host's tmpfs, %d runs (exits per MiB: beyond a plain boot's %.0f)", benchDiskMiB, benchDiskRuns, median(bootExits)),
		diskFigures(median(bootExits)), diskScenarios(), res)
	printTable(fmt.Sprintf("virtio-net: %d MiB over TCP each way between the guest and the emulated host through a tap, %d runs", benchNetMiB, benchDiskRuns),
		netFigures(median(bootExits)), netScenarios(), res)
	printVhostNetTable(median(bootExits), res)
	return nil
}

// reportMissing shows, on stderr, each run a figure could not be read off
// (it failed, or its guest's output was interleaved with kernel messages),
// so a short table is explained.
func reportMissing(figs []figure, ss []scenario.Scenario, res map[string]scenario.Result) {
	for _, s := range ss {
		r := res[s.Name]
		for _, f := range figs {
			if _, ok := f.get(r); !ok {
				fmt.Fprintf(os.Stderr, "run %s lacks %q: exit %d\nconsole:\n%s\nstderr:\n%s\nnotes:\n%s\n", s.Name, f.name, r.Exit, r.Output(), r.Stderr, notes(r))
				break
			}
		}
	}
}
