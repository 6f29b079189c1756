package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// `make bench` boots the guest under gokvm and, given PEER, under kvmtool's
// lkvm in the same emulated host, alternating the two round by round, and
// prints each figure for both with their ratio. Every workload is the same
// guest init doing the same thing; only the VMM differs.

// vmmUnderTest is gokvm or the peer.
type vmmUnderTest struct {
	label string
	peer  bool
}

// benchConfig is one `make bench` run.
type benchConfig struct {
	build   *harness.Build
	host    harness.Host
	vmms    []vmmUnderTest
	boots   int    // boots per VMM for the boot figures
	rounds  int    // runs per VMM of each I/O workload
	tool    string // the helper tool (hostinit) as scenarios run it
	peerBin string // where the peer is, as scenarios run it
	modules string // the sandbox's --modules tree
	profile string // a directory for gokvm's CPU profiles, or ""
	// haltPoll, when not "", is written to the host's KVM halt_poll_ns
	// before each run: how long a vcpu whose guest waits spins in
	// KVM_RUN before it sleeps (both VMMs are subject to it).
	haltPoll string
	// transport is "pci" for the workloads over virtio-pci (disk-pci,
	// net-pci), both VMMs with the host's MSI controller; "" is
	// virtio-mmio.
	transport string
	// traceExits counts the host KVM's exits by kind in the warm
	// workload's runs (hostinit's kvmexits: a histogram trigger on the
	// kvm:kvm_exit tracepoint, which costs every exit a little).
	traceExits bool
	// traceSyscalls adds, to each I/O workload's per-request table, the
	// system calls each VMM's threads made (scenario.TraceSyscalls: a
	// histogram trigger that costs every system call a little).
	traceSyscalls bool
	// kernelProfile adds, to each I/O workload, where the host kernel
	// spent each VMM's time per request (kstacks.go).
	kernelProfile bool
}

// Workload sizes.
const (
	benchDiskMiB   = 64
	benchRandReads = 2000
	benchNetMiB    = 32
	bench9pMiB     = 16
	benchRRSeconds = 5
)

// guestLine is the guest command line for actions, as both VMMs boot it.
func guestLine(actions string) string {
	return "console=ttyS0 quiet panic=-1 gokvm.do=" + actions
}

// scenario runs the test kernel and initramfs under v with mem MiB, one
// vcpu, the guest actions, and devices: flags both VMMs spell alike (-d,
// -n, --9p).
func (c *benchConfig) scenario(v vmmUnderTest, name string, mem int, actions string, devices ...string) scenario.Scenario {
	common := []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-m", strconv.Itoa(mem), "-c", "1", "-p", guestLine(actions)}
	if c.transport == "pci" {
		name += "-pci"
		// kvmtool's arm64 default, with MSI-X; both VMMs alike.
		common = append(common, "--virtio-transport", "pci", "--irqchip", harness.MSIIRQChip(c.host.GIC))
	}
	s := scenario.Scenario{Name: v.label + "-" + name, Timeout: 5 * time.Minute, SampleOn: phaseMarks, TraceSyscalls: c.traceSyscalls, KernelProfile: c.kernelProfile}
	if !v.peer {
		s.Args = append(append(common, "--stats"), devices...)
		if c.profile != "" {
			s.Env = []string{"GOKVM_CPUPROFILE=$WORK/cpu.prof"}
			s.Collect = []string{"$WORK/cpu.prof"}
		}
		return s
	}
	args := common
	if c.transport == "" {
		// kvmtool on arm64 defaults to virtio-pci; gokvm to virtio-mmio.
		args = append(args, "--virtio-transport", "mmio", "--irqchip", fmt.Sprintf("gicv%d", c.host.GIC))
	}
	args = append(args, devices...)
	s.Program, s.Args = peerCommand(c.tool, c.peerBin, args)
	return s
}

// figure is one benchmark row: a name, a unit, whether more is better,
// and how to read a value off a scenario result (false when it lacks it).
type figure struct {
	name, unit string
	higher     bool
	get        func(r scenario.Result) (float64, bool)
}

// workload is a set of scenarios (per VMM, alternating) and the figures
// read off them.
type workload struct {
	title string
	runs  map[string][]string // VMM label -> scenario names
	figs  []figure
	// cost prints the ratio as the first column's time over the
	// second's (what the first costs), not as a speed-up.
	cost bool
	// columns, when set, are the table's columns (runs' keys) instead
	// of the VMMs under test.
	columns []string
	// phases are the bracketed parts of the workload whose cost per
	// request is counted (costs.go), and requestNote says what a
	// request is in each.
	phases      []phase
	requestNote string
}

var (
	statsFirstRun = regexp.MustCompile(`first KVM_RUN ([0-9.]+) ms`)
	statsRSS      = regexp.MustCompile(`RSS without guest RAM ([0-9]+) KiB`)
	statsAnon     = regexp.MustCompile(`RSS without guest RAM [0-9]+ KiB \(([0-9]+) KiB anonymous\)`)
	statsExits    = regexp.MustCompile(`([0-9]+) MMIO exits`)
	statsPrefault = regexp.MustCompile(`prefaulted the working set .* in ([0-9.]+) ms`)
	statsRan      = regexp.MustCompile(`the guest ran ([0-9.]+) ms`)
	statsTimeline = regexp.MustCompile(`the sandbox init, ms after start: (.*)`)
	statsClose    = regexp.MustCompile(`closing the machine took ([0-9.]+) ms`)
	statsStartup  = regexp.MustCompile(`start-up, ms after start: (.*)`)
	statsKVMExits = regexp.MustCompile(`stats: KVM \([^)]+\): exits ([0-9]+)`)
	statsExitDev  = regexp.MustCompile(`MMIO exits by device: .*\bsandbox-exit ([0-9]+)`)
	statsHaltWait = regexp.MustCompile(`stats: KVM \([^)]+\): .*\bhalt_wait_ns ([0-9]+)`)
)

// Steps of the sandbox init's --stats timeline; stepStart, stepFirstRun
// and stepStop stand for gokvm's start, the first KVM_RUN and the vcpus'
// stop. Steps of gokvm's start-up line are named as it names them.
const (
	stepStart    = "start"
	stepFirstRun = "first KVM_RUN"
	stepSeen     = "command seen"
	stepReady    = "ready"
	stepStarted  = "started"
	stepExited   = "exited"
	stepStatus   = "status"
	stepStop     = "vcpus' stop"
)

// initStep is when a step of a sandbox run happened, in ms after start,
// from its --stats lines.
func initStep(stderr, step string) (float64, bool) {
	switch step {
	case stepStart:
		return 0, true
	case stepFirstRun:
		return grepFloat(statsFirstRun, stderr)
	case stepStop:
		first, ok1 := grepFloat(statsFirstRun, stderr)
		ran, ok2 := grepFloat(statsRan, stderr)
		return first + ran, ok1 && ok2
	}
	// A step of the init's timeline, or of gokvm's start-up.
	for _, re := range []*regexp.Regexp{statsTimeline, statsStartup} {
		m := re.FindStringSubmatch(stderr)
		if m == nil {
			continue
		}
		for _, field := range strings.Split(m[1], ", ") {
			if v, ok := strings.CutPrefix(field, step+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				return f, err == nil
			}
		}
	}
	return 0, false
}

// betweenSteps is the time from step a to step b of a sandbox run.
func betweenSteps(a, b string) func(scenario.Result) (float64, bool) {
	return func(r scenario.Result) (float64, bool) {
		ta, ok1 := initStep(r.Stderr, a)
		tb, ok2 := initStep(r.Stderr, b)
		return tb - ta, ok1 && ok2
	}
}

// afterRun is a run's time outside its start-up and its guest: from the
// vcpus' stop to gokvm's exit (devices stopped, --stats read, the VM and
// guest RAM torn down), plus what the runner's clock counts before
// gokvm's own start (the exec).
func afterRun(r scenario.Result) (float64, bool) {
	first, ok1 := grepFloat(statsFirstRun, r.Stderr)
	ran, ok2 := grepFloat(statsRan, r.Stderr)
	if !ok1 || !ok2 || ran == 0 {
		return 0, false
	}
	return float64(r.ElapsedMS) - first - ran, true
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

func fromStderr(re *regexp.Regexp, scale float64) func(scenario.Result) (float64, bool) {
	return func(r scenario.Result) (float64, bool) {
		v, ok := grepFloat(re, r.Stderr)
		return v * scale, ok
	}
}

// hostKVMExits reads one kind's count from the emulated host's
// HOST-KVM-EXITS line (hostinit's kvmexits).
func hostKVMExits(kind string) func(scenario.Result) (float64, bool) {
	return fromNotesScaled(`HOST-KVM-EXITS .*\b`+kind+`=([0-9]+)`, 1)
}

func fromConsole(re string) func(scenario.Result) (float64, bool) {
	rx := regexp.MustCompile(re)
	return func(r scenario.Result) (float64, bool) { return grepFloat(rx, r.Output()) }
}

func fromNotesScaled(re string, scale float64) func(scenario.Result) (float64, bool) {
	rx := regexp.MustCompile(re)
	return func(r scenario.Result) (float64, bool) {
		v, ok := grepFloat(rx, notes(r))
		return v * scale, ok
	}
}

func fromNotes(re string) func(scenario.Result) (float64, bool) {
	rx := regexp.MustCompile(re)
	return func(r scenario.Result) (float64, bool) { return grepFloat(rx, notes(r)) }
}

// fromConsoleLog reads a duration (Go's notation) off the sandbox's
// --console-log, in milliseconds.
func fromConsoleLog(re string) func(scenario.Result) (float64, bool) {
	rx := regexp.MustCompile(re)
	return func(r scenario.Result) (float64, bool) {
		m := rx.FindSubmatch(r.Files["$WORK/console.log"])
		if m == nil {
			return 0, false
		}
		d, err := time.ParseDuration(string(m[1]))
		return float64(d) / float64(time.Millisecond), err == nil
	}
}

// roundOrder is the VMMs in round i's order: every other round the other
// way round (gokvm, kvmtool, kvmtool, gokvm, ...), so that neither VMM
// always runs first in a round, just after the other one's run or a boot
// of the emulated host.
func (c *benchConfig) roundOrder(i int) []vmmUnderTest {
	order := slices.Clone(c.vmms)
	if i%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// alternate makes n rounds of one scenario per VMM, VMMs taking turns in
// roundOrder.
func (c *benchConfig) alternate(n int, w *workload, mk func(v vmmUnderTest, i int) scenario.Scenario) []scenario.Scenario {
	var ss []scenario.Scenario
	w.runs = map[string][]string{}
	for i := 0; i < n; i++ {
		for _, v := range c.roundOrder(i) {
			s := mk(v, i)
			ss = append(ss, s)
			w.runs[v.label] = append(w.runs[v.label], s.Name)
		}
	}
	return ss
}

func (c *benchConfig) bootWorkload() (*workload, []scenario.Scenario) {
	w := &workload{
		title: fmt.Sprintf("Boot: the Debian arm64 kernel with a Go init that powers off at once, 1 vcpu, 256 MiB, %d boots each", c.boots),
		figs: []figure{
			{"start to guest init marker", "ms", false, func(r scenario.Result) (float64, bool) {
				ms := r.LineMS("GOKVM-GUEST-MARKER")
				return float64(ms), ms >= 0
			}},
			{"start to exit (guest powered off)", "ms", false, func(r scenario.Result) (float64, bool) {
				return float64(r.ElapsedMS), r.Exit == 0
			}},
			{"RSS without guest RAM, 2.5 s in", "MiB", false, fromNotesScaled(`HOST-RSS \S+ ([0-9]+) `, 1.0/1024)},
			{"of which anonymous (not the binary's file pages)", "MiB", false, fromNotesScaled(`HOST-RSS \S+ [0-9]+ ([0-9]+)`, 1.0/1024)},
			{"gokvm: start to first KVM_RUN", "ms", false, fromStderr(statsFirstRun, 1)},
			{"gokvm: RSS without guest RAM", "MiB", false, fromStderr(statsRSS, 1.0/1024)},
			{"gokvm: of which anonymous (not the binary's pages)", "MiB", false, fromStderr(statsAnon, 1.0/1024)},
		},
	}
	ss := c.alternate(c.boots, w, func(v vmmUnderTest, i int) scenario.Scenario {
		s := c.scenario(v, fmt.Sprintf("boot-%d", i), 256, "marker,poweroff")
		comm := "gokvm"
		if v.peer {
			comm = "lkvm"
			if harness.Direct() {
				comm = filepath.Base(c.peerBin)
			}
		}
		s.Background = [][]string{{c.tool, "rss", comm, "2500"}}
		return s
	})
	return w, ss
}

func (c *benchConfig) diskWorkload() (*workload, []scenario.Scenario) {
	phases := []phase{
		emptyPhase,
		{"seqwrite", "blk=vda", fmt.Sprintf("bench-seqwrite:vda:%d", benchDiskMiB)},
		{"seqread", "blk=vda", fmt.Sprintf("bench-seqread:vda:%d", benchDiskMiB)},
		{"randread", "blk=vda", fmt.Sprintf("bench-randread:vda:%d", benchRandReads)},
	}
	w := &workload{
		phases:      phases,
		requestNote: "a request is one the guest's vda completed, a virtio-blk request; empty: the bracketing's own cost, 0.5 s of an idle guest and a console line, counted as one request",
		title:       fmt.Sprintf("virtio-blk: a %d MiB image on the emulated host's tmpfs, O_DIRECT in the guest, %d runs each", benchDiskMiB, c.rounds),
		figs: []figure{
			{"sequential write, 1 MiB requests", "MB/s", true, fromConsole(`GUEST-BENCH seqwrite \S+ ([0-9.]+) MB/s`)},
			{"sequential read, 1 MiB requests", "MB/s", true, fromConsole(`GUEST-BENCH seqread \S+ ([0-9.]+) MB/s`)},
			{"4 KiB random read", "IOPS", true, fromConsole(`GUEST-BENCH randread \S+ ([0-9.]+) IOPS`)},
			{"host: the same file directly, sequential read", "MB/s", true, fromNotes(`HOST-BENCH seqread ([0-9.]+) MB/s`)},
		},
	}
	ss := c.alternate(c.rounds, w, func(v vmmUnderTest, i int) scenario.Scenario {
		img := fmt.Sprintf("$WORK/bench-%s-%d.img", v.label, i)
		s := c.scenario(v, fmt.Sprintf("disk-%d", i), 256,
			"modules,"+bracket(phases)+",poweroff",
			"-d", img)
		s.Before = [][]string{{c.tool, "mksparse", img, fmt.Sprint(benchDiskMiB)}}
		s.After = [][]string{{c.tool, "benchfile", img, fmt.Sprint(benchDiskMiB), fmt.Sprint(benchRandReads)}}
		return s
	})
	return w, ss
}

// netWorkload: TCP both ways and request/response round trips through a
// tap; vhost hands the data path to the host kernel's vhost-net.
func (c *benchConfig) netWorkload(vhost bool) (*workload, []scenario.Scenario) {
	kind, opt := "net", ""
	title := "virtio-net through a tap (link-local addresses)"
	if vhost {
		kind, opt = "vhostnet", ",vhost=1"
		title = "virtio-net through a tap with vhost=1 (the host kernel's vhost-net)"
	}
	phases := []phase{
		{"to-host", "net=eth0", fmt.Sprintf("tcpsend:169.254.1.1:5001:1:%d", benchNetMiB)},
		{"from-host", "net=eth0", "tcprecv:169.254.1.1:5002"},
		{"rr", "net=eth0", fmt.Sprintf("tcprr:169.254.1.1:5003:%d", benchRRSeconds)},
	}
	w := &workload{
		phases:      phases,
		requestNote: "a request is a frame the guest's eth0 sent or received",
		title:       fmt.Sprintf("%s: %d MiB over TCP each way, then %d s of 1-byte TCP round trips, %d runs each", title, benchNetMiB, benchRRSeconds, c.rounds),
		figs: []figure{
			{"TCP guest to host", "MB/s", true, fromNotes(`HOST-RECV \S+ \d+ ([0-9.]+) MB/s`)},
			{"TCP host to guest", "MB/s", true, fromConsole(`GUEST-RECV \S+ \d+ ([0-9.]+) MB/s`)},
			{"TCP round trips (1 byte each way)", "R/s", true, fromConsole(`GUEST-RR \d+ round trips \S+ seconds ([0-9.]+) R/s`)},
		},
	}
	ss := c.alternate(c.rounds, w, func(v vmmUnderTest, i int) scenario.Scenario {
		modules := "virtio_mmio"
		if c.transport == "pci" {
			modules = "virtio_pci_legacy_dev:virtio_pci_modern_dev:virtio_pci"
		}
		s := c.scenario(v, fmt.Sprintf("%s-%d", kind, i), 512,
			"modules:"+modules+":failover:net_failover:virtio_net,netup:eth0:169.254.1.2/24,"+bracket(phases)+",poweroff",
			"-n", "mode=tap,tapif=tapb0"+opt)
		s.Before = [][]string{{c.tool, "mktap", "tapb0", "169.254.1.1/24"}}
		s.Background = [][]string{{c.tool, "netpeer", "2", fmt.Sprint(benchNetMiB)}, {c.tool, "rrpeer", "5003"}}
		return s
	})
	return w, ss
}

func (c *benchConfig) ninepWorkload() (*workload, []scenario.Scenario) {
	const stats = 100
	phases := []phase{
		{"read-128k", fmt.Sprintf("n=%d", bench9pMiB), "readbench:/mnt/big"},
		{"read-512000", fmt.Sprintf("n=%d", bench9pMiB), "readbench:/mnt2/big"},
		{"stat", fmt.Sprintf("n=%d", stats), fmt.Sprintf("statbench:/mnt/big:%d", stats)},
	}
	w := &workload{
		phases:      phases,
		requestNote: "a request is a MiB read (read-128k, read-512000: msize 128 KiB and 512000) or a stat call (stat: one Tgetattr)",
		title:       fmt.Sprintf("virtio-9p: a %d MiB file read sequentially in 1 MiB reads (no cache), one share mounted with Linux's default msize (128 KiB), one with msize 512000 (virtio's largest), %d runs each", bench9pMiB, c.rounds),
		figs: []figure{
			{"sequential read, msize 128 KiB", "MB/s", true, fromConsole(`GUEST-9P-READ /mnt/big \d+ \S+ ([0-9.]+) MB/s`)},
			{"sequential read, msize 512000", "MB/s", true, fromConsole(`GUEST-9P-READ /mnt2/big \d+ \S+ ([0-9.]+) MB/s`)},
			{"stat of a file (a Tgetattr round trip)", "us", false, fromConsole(`GUEST-STAT \d+ calls \S+ seconds ([0-9.]+) us/call`)},
		},
	}
	ss := c.alternate(c.rounds, w, func(v vmmUnderTest, i int) scenario.Scenario {
		dir := fmt.Sprintf("$WORK/share-%s-%d", v.label, i)
		s := c.scenario(v, fmt.Sprintf("9p-%d", i), 256,
			"modules:virtio_mmio:netfs:fscache:9pnet:9pnet_virtio:9p,mount9p:bench:/mnt,mount9p:bench2:/mnt2:512000,"+bracket(phases)+",poweroff",
			"--9p", dir+",bench", "--9p", dir+",bench2")
		s.Before = [][]string{{c.tool, "mkdir", dir}, {c.tool, "mkrand", dir + "/big", "5", fmt.Sprint(bench9pMiB)}}
		return s
	})
	return w, ss
}

// sandboxWorkload times `gokvm sandbox -- true` beside a plain boot of
// the same kernel to its init, which powers off at once (gokvm only).
func (c *benchConfig) sandboxWorkload() (*workload, []scenario.Scenario) {
	w := &workload{
		title:   fmt.Sprintf("gokvm sandbox start-up: `sandbox -- true` and a plain boot, start to exit, %d runs each", c.rounds),
		runs:    map[string][]string{},
		cost:    true,
		columns: []string{"sandbox", "plain boot"},
		figs: []figure{
			{"start to exit", "ms", false, func(r scenario.Result) (float64, bool) {
				return float64(r.ElapsedMS), r.Exit == 0
			}},
			{"sandbox: kernel uptime when its init ends", "ms", false, fromConsoleLog(`kernel uptime ([0-9.]+s)`)},
			{"sandbox: time in its init", "ms", false, fromConsoleLog(`status \d+ after (\S+) in the init`)},
			{"sandbox: loading modules", "ms", false, fromConsoleLog(`modules \d+ in ([^;]+);`)},
			{"sandbox: modules and mounting the root", "ms", false, fromConsoleLog(`root mounted after (\S+)`)},
		},
	}
	var ss []scenario.Scenario
	for i := 0; i < c.rounds; i++ {
		plain := c.scenario(vmmUnderTest{label: "plain"}, fmt.Sprintf("boot-%d", i), 256, "marker,poweroff")
		sb := scenario.Scenario{Name: fmt.Sprintf("sandbox-true-%d", i), Timeout: 5 * time.Minute,
			Args:    []string{"sandbox", "-k", "$GUEST/Image", "--modules", c.modules, "--console-log", "$WORK/console.log", "-p", "quiet", "--", "true"},
			Collect: []string{"$WORK/console.log"}}
		ss = append(ss, plain, sb)
		w.runs["plain boot"] = append(w.runs["plain boot"], plain.Name)
		w.runs["sandbox"] = append(w.runs["sandbox"], sb.Name)
	}
	return w, ss
}

// warmWorkload times `gokvm sandbox --warm DIR -- true`, which restores
// a saved machine, beside a plain boot of the same kernel (gokvm only). A
// first run, not counted, boots and saves the machine. Each round has its
// working set file removed first, so its first warm run restores without
// prefaulting (and records one), which measures what the prefault saves;
// the runs after it prefault. The first of them is about 0.1 s slower
// than the later ones (measured either way round, with or without
// --stats, and with a 3 s pause before it), so it has a column of its
// own: a CI job's third run is that one, its later runs the others.
func (c *benchConfig) warmWorkload() (*workload, []scenario.Scenario) {
	const warm, first, cold = "sandbox --warm", "--warm, first prefaulted run", "--warm, not prefaulted"
	// The same two runs without --stats, whose figures cost time after
	// the guest stops (smaps read for the RSS, KVM's and the threads'
	// counters): start to exit as users see it.
	const warmBare, plainBare = "--warm, no --stats", "plain boot, no --stats"
	w := &workload{
		title:   fmt.Sprintf("gokvm warm sandbox: `sandbox --warm DIR -- true` (a restore) and a plain boot, start to exit, %d runs each", c.rounds),
		runs:    map[string][]string{},
		cost:    true,
		columns: []string{warm, first, cold, "plain boot", warmBare, plainBare},
		figs: []figure{
			{"start to exit", "ms", false, func(r scenario.Result) (float64, bool) {
				return float64(r.ElapsedMS), r.Exit == 0
			}},
			{"sandbox --warm: start to first KVM_RUN (restored)", "ms", false, fromStderr(statsFirstRun, 1)},
			{"sandbox --warm: restore: start to the init and modules found", "ms", false, betweenSteps(stepStart, "init and modules found")},
			{"sandbox --warm: restore: the warm key made (the files' identities)", "ms", false, betweenSteps("init and modules found", "warm key made")},
			{"sandbox --warm: restore: the saved machine opened (state file read and checked)", "ms", false, betweenSteps("warm key made", "saved machine opened")},
			{"sandbox --warm: restore: the sandbox's devices made (9p root)", "ms", false, betweenSteps("saved machine opened", "sandbox devices made")},
			{"sandbox --warm: restore: the spec checked", "ms", false, betweenSteps("sandbox devices made", "checked")},
			{"sandbox --warm: restore: KVM opened, the VM created", "ms", false, betweenSteps("checked", "VM created")},
			{"sandbox --warm: restore: RAM mapped from its file", "ms", false, betweenSteps("VM created", "RAM mapped")},
			{"sandbox --warm: restore: vcpus and GIC made", "ms", false, betweenSteps("RAM mapped", "vcpus and GIC made")},
			{"sandbox --warm: restore: devices made", "ms", false, betweenSteps("vcpus and GIC made", "devices made")},
			{"sandbox --warm: restore: vcpus', GIC's and devices' state restored", "ms", false, betweenSteps("devices made", "state restored")},
			{"sandbox --warm: restore: to the run's call (the sandbox's last steps, gokvm's own)", "ms", false, betweenSteps("state restored", "run called")},
			{"sandbox --warm: restore: the system call filter installed", "ms", false, betweenSteps("run called", "system call filter installed")},
			{"sandbox --warm: restore: the filter to the first KVM_RUN (the prefault awaited, the vcpus started)", "ms", false, betweenSteps("system call filter installed", stepFirstRun)},
			{"sandbox --warm: restore: RAM mapped to the working set prefaulted (beside the rest)", "ms", false, betweenSteps("RAM mapped", "working set prefaulted")},
			{"sandbox --warm: prefaulting the working set", "ms", false, fromStderr(statsPrefault, 1)},
			{"sandbox --warm: first KVM_RUN to the vcpus' stop", "ms", false, fromStderr(statsRan, 1)},
			{"sandbox --warm, in the guest: first KVM_RUN to its init seeing the command", "ms", false, betweenSteps(stepFirstRun, stepSeen)},
			{"sandbox --warm, in the guest: the command read, the clock set, the shares and directory", "ms", false, betweenSteps(stepSeen, stepReady)},
			{"sandbox --warm, in the guest: fork and exec", "ms", false, betweenSteps(stepReady, stepStarted)},
			{"sandbox --warm, in the guest: the command (`true`)", "ms", false, betweenSteps(stepStarted, stepExited)},
			{"sandbox --warm, in the guest: drain and sync to the status", "ms", false, betweenSteps(stepExited, stepStatus)},
			{"sandbox --warm, in the guest: the status to the vcpus' stop", "ms", false, betweenSteps(stepStatus, stepStop)},
			{"sandbox --warm: the vcpus' stop to exit, and the exec", "ms", false, afterRun},
			{"sandbox --warm: of it, closing the machine", "ms", false, fromStderr(statsClose, 1)},
			{"sandbox --warm: RSS without guest RAM", "MiB", false, fromStderr(statsRSS, 1.0/1024)},
			{"sandbox --warm: MMIO exits to gokvm", "exits", false, fromStderr(statsExits, 1)},
			{"sandbox --warm: of them, the status device's (the command read, the states)", "exits", false, fromStderr(statsExitDev, 1)},
			{"sandbox --warm: vcpu exits of every kind (KVM's count)", "exits", false, fromStderr(statsKVMExits, 1)},
			{"sandbox --warm: the vcpus halted, waiting for an interrupt (KVM's halt_wait_ns, summed over the vcpus)", "ms", false, fromStderr(statsHaltWait, 1e-6)},
		},
	}
	if c.traceExits {
		w.figs = append(w.figs,
			figure{"sandbox --warm: vcpu exits, the host's trace: all", "exits", false, hostKVMExits("total")},
			figure{"sandbox --warm: vcpu exits, the host's trace: data aborts (stage-2 faults and MMIO)", "exits", false, hostKVMExits("dabt")},
			figure{"sandbox --warm: vcpu exits, the host's trace: instruction aborts (stage-2 faults)", "exits", false, hostKVMExits("iabt")},
			figure{"sandbox --warm: vcpu exits, the host's trace: host interrupts", "exits", false, hostKVMExits("irq")},
			figure{"sandbox --warm: vcpu exits, the host's trace: system register traps", "exits", false, hostKVMExits("sysreg")},
			figure{"sandbox --warm: vcpu exits, the host's trace: WFI and WFE", "exits", false, hostKVMExits("wfx")})
	}
	const dir = "/tmp/gokvm-bench-warm"
	// No --console-log: a run as users make it, whose init prints no
	// timing lines (each character on the console is an exit or two).
	args := []string{"sandbox", "-k", "$GUEST/Image", "--modules", c.modules, "--warm", dir, "--stats",
		"-p", "quiet", "--", "true"}
	ss := []scenario.Scenario{{Name: "sandbox-warm-prime", Timeout: 5 * time.Minute, Args: args,
		Before: [][]string{{c.tool, "rmall", dir}}}}
	for i := 0; i < c.rounds; i++ {
		plain := c.scenario(vmmUnderTest{label: "plain"}, fmt.Sprintf("boot-w%d", i), 256, "marker,poweroff")
		noWS := scenario.Scenario{Name: fmt.Sprintf("sandbox-warm-nows-%d", i), Timeout: 5 * time.Minute, Args: args,
			Before: [][]string{{c.tool, "rmglob", dir + "/*.ws"}}}
		firstWS := scenario.Scenario{Name: fmt.Sprintf("sandbox-warm-first-%d", i), Timeout: 5 * time.Minute, Args: args}
		ws := scenario.Scenario{Name: fmt.Sprintf("sandbox-warm-true-%d", i), Timeout: 5 * time.Minute, Args: args}
		wsBare := scenario.Scenario{Name: fmt.Sprintf("sandbox-warm-bare-%d", i), Timeout: 5 * time.Minute, Args: withoutStats(args)}
		plainBareRun := plain
		plainBareRun.Name, plainBareRun.Args = fmt.Sprintf("plain-boot-bare-%d", i), withoutStats(plain.Args)
		// The traced runs: the host's count of the vcpus' exits by kind.
		if c.traceExits {
			for _, s := range []*scenario.Scenario{&plain, &noWS, &ws} {
				s.Before = append(s.Before, []string{c.tool, "kvmexits", "start"})
				s.After = append(s.After, []string{c.tool, "kvmexits", "print"})
			}
		}
		ss = append(ss, plain, noWS, firstWS, wsBare, ws, plainBareRun)
		w.runs["plain boot"] = append(w.runs["plain boot"], plain.Name)
		w.runs[first] = append(w.runs[first], firstWS.Name)
		w.runs[cold] = append(w.runs[cold], noWS.Name)
		w.runs[warm] = append(w.runs[warm], ws.Name)
		w.runs[warmBare] = append(w.runs[warmBare], wsBare.Name)
		w.runs[plainBare] = append(w.runs[plainBare], plainBareRun.Name)
	}
	return w, ss
}

// values are a figure's values over a VMM's runs, sorted.
func (f figure) values(names []string, res map[string]scenario.Result) []float64 {
	var vals []float64
	for _, n := range names {
		if v, ok := f.get(res[n]); ok {
			vals = append(vals, v)
		}
	}
	sort.Float64s(vals)
	return vals
}

// median is the middle value, or the mean of the two middle ones for an
// even count (the upper one alone would favour whichever VMM it is).
func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	sort.Float64s(vals)
	mid := len(vals) / 2
	if len(vals)%2 == 0 {
		return (vals[mid-1] + vals[mid]) / 2
	}
	return vals[mid]
}

// print shows each figure's median (min-max) per column, and with two
// columns the ratio of the medians, the first column's speed over the
// second's (above 1 the first is faster, whichever way the unit counts),
// and the same ratio round by round (pairedRatios): median (min-max,
// rounds).
func (w *workload) print(columns []string, res map[string]scenario.Result) {
	fmt.Printf("%s\n\n", w.title)
	fmt.Printf("| %-44s |", "figure")
	for _, c := range columns {
		fmt.Printf(" %-30s |", c)
	}
	if len(columns) == 2 {
		fmt.Printf(" %s/%s | %-22s |", columns[0], columns[1], pairedHeader)
	}
	fmt.Println()
	fmt.Printf("|%s|", strings.Repeat("-", 46))
	for range columns {
		fmt.Printf("%s|", strings.Repeat("-", 32))
	}
	if len(columns) == 2 {
		fmt.Printf("%s|%s|", strings.Repeat("-", len(columns[0])+len(columns[1])+3), strings.Repeat("-", 24))
	}
	fmt.Println()
	for _, f := range w.figs {
		fmt.Printf("| %-44s |", f.name+" ("+f.unit+")")
		var meds []float64
		for _, c := range columns {
			vals := f.values(w.runs[c], res)
			if len(vals) == 0 {
				fmt.Printf(" %-30s |", "-")
				meds = append(meds, 0)
				continue
			}
			meds = append(meds, median(vals))
			fmt.Printf(" %-30s |", fmt.Sprintf("%.1f (%.1f-%.1f, %d/%d)", median(vals), vals[0], vals[len(vals)-1], len(vals), len(w.runs[c])))
		}
		if len(columns) == 2 {
			ratio := "-"
			if meds[0] > 0 && meds[1] > 0 {
				ratio = fmt.Sprintf("%.2f", w.ratio(f, meds[0], meds[1]))
			}
			paired := "-"
			if rs := w.pairedRatios(f, columns, res); len(rs) > 0 {
				paired = fmt.Sprintf("%.2f (%.2f-%.2f, %d)", median(rs), rs[0], rs[len(rs)-1], len(rs))
			}
			fmt.Printf(" %*s | %-22s |", len(columns[0])+len(columns[1])+1, ratio, paired)
		}
		fmt.Println()
	}
	fmt.Println()
	w.reportMissing(columns, res)
}

// pairedHeader heads the column of pairedRatios.
const pairedHeader = "rounds' ratios"

// ratio is the first column's speed over the second's for a figure's
// values a and b: above 1 the first is faster, whichever way the unit
// counts; for a cost workload, what the first costs over the second.
func (w *workload) ratio(f figure, a, b float64) float64 {
	if !f.higher && !w.cost {
		return b / a
	}
	return a / b
}

// pairedRatios are a figure's ratios round by round, the two columns'
// runs of one round taken together (sorted; a round where either run
// lacks the figure has none). The two runs of a round come one after the
// other, so the host's speed, which drifts by up to 2x over minutes in
// the emulated host, should change less between them than between
// rounds; the ratio of the two medians mixes fast and slow minutes.
func (w *workload) pairedRatios(f figure, columns []string, res map[string]scenario.Result) []float64 {
	a, b := w.runs[columns[0]], w.runs[columns[1]]
	var rs []float64
	for i := range min(len(a), len(b)) {
		va, oka := f.get(res[a[i]])
		vb, okb := f.get(res[b[i]])
		if !oka || !okb || va <= 0 || vb <= 0 {
			continue
		}
		rs = append(rs, w.ratio(f, va, vb))
	}
	sort.Float64s(rs)
	return rs
}

// reportMissing shows, on stderr, each run a figure could not be read off
// (it failed, or its guest's output was interleaved with kernel
// messages), so a short table is explained.
func (w *workload) reportMissing(columns []string, res map[string]scenario.Result) {
	for _, c := range columns {
		for _, n := range w.runs[c] {
			r := res[n]
			for _, f := range w.figs {
				// A figure named "gokvm: ..." or "sandbox: ..." is
				// that column's alone.
				if who, _, ok := strings.Cut(f.name, ":"); ok && who != c {
					continue
				}
				if _, ok := f.get(r); !ok {
					fmt.Fprintf(os.Stderr, "run %s lacks %q: exit %d\nconsole:\n%s\nstderr:\n%s\nnotes:\n%s\n", n, f.name, r.Exit, r.Output(), r.Stderr, notes(r))
					break
				}
			}
		}
	}
}

// peerSelf as the peer runs gokvm itself in the peer's column, with
// kvmtool's command line (which gokvm takes): an A/A run, whose ratios
// say how far two runs of one VMM differ on this host.
const peerSelf = "self"

// runBench runs every workload in one emulated host (or directly) and
// prints the tables. peer is the path of kvmtool's lkvm, peerSelf, or
// "".
func runBench(b *harness.Build, host harness.Host, boots, rounds int, peer, profile, haltPoll string, traceExits, traceSyscalls, kernelProfile bool, only *regexp.Regexp) error {
	c := &benchConfig{build: b, host: host, boots: boots, rounds: rounds, tool: "/init", vmms: []vmmUnderTest{{label: "gokvm"}}, profile: profile, haltPoll: haltPoll,
		traceExits: traceExits, traceSyscalls: traceSyscalls, kernelProfile: kernelProfile}
	if harness.Direct() {
		c.tool = b.HostInit // hostinit is the helper tool when it is not pid 1
	}
	var err error
	if c.modules, err = harness.AddSandboxFiles(b); err != nil {
		return err
	}
	if peer != "" {
		label := "kvmtool"
		if peer == peerSelf {
			peer, label = b.Gokvm, "gokvm-as-peer"
		}
		c.vmms = append(c.vmms, vmmUnderTest{label: label, peer: true})
		c.peerBin = peer
		if !harness.Direct() {
			if b.HostFiles == nil {
				b.HostFiles = map[string]string{}
			}
			b.HostFiles["bin/lkvm"] = peer
		}
	}
	type built struct {
		w  *workload
		ss []scenario.Scenario
	}
	var all []built
	for _, mk := range []struct {
		name string
		f    func() (*workload, []scenario.Scenario)
		// prepare puts what the workload needs into the guest
		// directory first.
		prepare func() error
	}{
		{"boot", c.bootWorkload, nil},
		{"disk", c.diskWorkload, nil},
		{"net", func() (*workload, []scenario.Scenario) { return c.netWorkload(false) }, nil},
		{"vhostnet", func() (*workload, []scenario.Scenario) { return c.netWorkload(true) }, nil},
		{"9p", c.ninepWorkload, nil},
		{"sandbox", c.sandboxWorkload, nil},
		{"warm", c.warmWorkload, nil},
		{"fault", c.faultWorkload, c.prepareFault},
		{"exits", c.exitsWorkload, c.prepareExits},
		{"disk-pci", func() (*workload, []scenario.Scenario) { return c.overPCI().diskWorkload() }, nil},
		{"net-pci", func() (*workload, []scenario.Scenario) { return c.overPCI().netWorkload(false) }, nil},
	} {
		if only != nil && !only.MatchString(mk.name) {
			continue
		}
		if mk.prepare != nil {
			if err := mk.prepare(); err != nil {
				return err
			}
		}
		w, ss := mk.f()
		all = append(all, built{w, ss})
	}
	var ss []scenario.Scenario
	for _, x := range all {
		ss = append(ss, x.ss...)
	}
	if c.haltPoll != "" {
		for i := range ss {
			ss[i].Before = append([][]string{{c.tool, "writefile", "/sys/module/kvm/parameters/halt_poll_ns", c.haltPoll}}, ss[i].Before...)
		}
	}
	res, where, err := runScenarios(b, host, ss, 60*time.Minute)
	if err != nil {
		return err
	}
	if profile != "" {
		if err := saveProfiles(profile, b.Gokvm, res); err != nil {
			return err
		}
		if kernelProfile {
			if err := saveKernelStacks(profile, res); err != nil {
				return err
			}
		}
	}
	fmt.Printf("gokvm benchmarks %s, %s; medians with (min-max, runs with the figure/runs)\n\n", where, time.Now().Format("2006-01-02"))
	var columns []string
	for _, v := range c.vmms {
		columns = append(columns, v.label)
	}
	for _, x := range all {
		cols := columns
		if x.w.columns != nil {
			cols = x.w.columns
		}
		x.w.print(cols, res)
		x.w.printCosts(cols, res)
		if kernelProfile {
			x.w.printKernelProfile(cols, res)
		}
	}
	return nil
}

// saveProfiles writes each run's CPU profile (GOKVM_CPUPROFILE) into dir
// as NAME.prof, with the gokvm binary they belong to, for `go tool pprof
// dir/gokvm dir/NAME.prof`.
func saveProfiles(dir, gokvm string, res map[string]scenario.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := os.ReadFile(gokvm)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "gokvm"), bin, 0o755); err != nil {
		return err
	}
	for name, r := range res {
		for _, data := range r.Files {
			if err := os.WriteFile(filepath.Join(dir, name+".prof"), data, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("CPU profiles of gokvm's runs are in %s (go tool pprof %s/gokvm %s/NAME.prof)\n\n", dir, dir, dir)
	return nil
}

// overPCI is c for the workloads over virtio-pci: their scenarios' names
// end in -pci and their tables' titles say so.
func (c *benchConfig) overPCI() *pciBench {
	p := *c
	p.transport = "pci"
	return &pciBench{&p}
}

// pciBench makes a workload over virtio-pci, titled so.
type pciBench struct{ c *benchConfig }

func (p *pciBench) diskWorkload() (*workload, []scenario.Scenario) {
	return p.titled(p.c.diskWorkload())
}

func (p *pciBench) netWorkload(vhost bool) (*workload, []scenario.Scenario) {
	return p.titled(p.c.netWorkload(vhost))
}

func (p *pciBench) titled(w *workload, ss []scenario.Scenario) (*workload, []scenario.Scenario) {
	w.title = "over virtio-pci (MSI-X), " + w.title
	return w, ss
}

// withoutStats is a gokvm command line without --stats.
func withoutStats(args []string) []string {
	var out []string
	for _, a := range args {
		if a != "--stats" {
			out = append(out, a)
		}
	}
	return out
}
