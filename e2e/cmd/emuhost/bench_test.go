package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// TestBenchOverPCI: the disk-pci and net-pci workloads give both VMMs the
// same virtio-pci transport and MSI controller, load virtio_pci in the
// guest, and name their scenarios apart from the virtio-mmio ones.
func TestBenchOverPCI(t *testing.T) {
	for _, gic := range []int{3, 2} {
		c := &benchConfig{host: harness.Host{GIC: gic}, rounds: 1, tool: "/init", peerBin: "/bin/lkvm",
			vmms: []vmmUnderTest{{label: "gokvm"}, {label: "kvmtool", peer: true}}}
		want := []string{"--virtio-transport", "pci", "--irqchip", map[int]string{3: "gicv3-its", 2: "gicv2m"}[gic]}
		mmio, _ := c.diskWorkload()
		for _, mk := range []func() (*workload, []string){
			func() (*workload, []string) { w, ss := c.overPCI().diskWorkload(); return w, names(ss, want, t) },
			func() (*workload, []string) { w, ss := c.overPCI().netWorkload(false); return w, names(ss, want, t) },
		} {
			w, ns := mk()
			if !strings.HasPrefix(w.title, "over virtio-pci") {
				t.Errorf("title %q does not say virtio-pci", w.title)
			}
			for _, n := range ns {
				if !strings.HasSuffix(n, "-pci") || slices.Contains(mmio.runs["gokvm"], n) {
					t.Errorf("scenario %q is not named apart from the virtio-mmio ones", n)
				}
			}
		}
		if c.transport != "" {
			t.Errorf("overPCI changed the config it copied")
		}
	}
}

// names are the scenarios' names, checking each has want in its
// arguments (kvmtool's behind hostinit's peer command) and loads
// virtio_pci where it lists its modules.
func names(ss []scenario.Scenario, want []string, t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range ss {
		args := strings.Join(s.Args, " ")
		if !strings.Contains(args, strings.Join(want, " ")) {
			t.Errorf("%s: %q lacks %q", s.Name, args, want)
		}
		if strings.Contains(args, "modules:") && !strings.Contains(args, "virtio_pci") {
			t.Errorf("%s: the guest does not load virtio_pci: %q", s.Name, args)
		}
		if strings.Contains(args, "--virtio-transport mmio") {
			t.Errorf("%s: still virtio-mmio: %q", s.Name, args)
		}
		out = append(out, s.Name)
	}
	return out
}

// TestWarmPhases: the warm table's phases come from a sandbox run's
// --stats lines, each the time between two steps; a step the line does
// not have gives no figure.
func TestWarmPhases(t *testing.T) {
	stderr := "gokvm: stats: first KVM_RUN 20.5 ms after start; the guest ran 400.0 ms; 90 MMIO exits; RSS without guest RAM 9000 KiB (4000 KiB anonymous)\n" +
		"gokvm: stats: the sandbox init, ms after start: command given 21.0, command seen 50.5, ready 110.0, started 230.0, exited -, status 415.0\n"
	r := scenario.Result{Stderr: stderr}
	for _, c := range []struct {
		a, b string
		want float64
		ok   bool
	}{
		{stepFirstRun, stepSeen, 30, true},
		{stepSeen, stepReady, 59.5, true},
		{stepReady, stepStarted, 120, true},
		{stepStarted, stepExited, 0, false},
		{stepStatus, stepStop, 5.5, true},
	} {
		got, ok := betweenSteps(c.a, c.b)(r)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s to %s: %v, %v; want %v, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
	kvm := scenario.Result{Stderr: stderr + "gokvm: stats: KVM (binary statistics): exits 5123, mmio_exit_user 90, mmio_exit_kernel 18\n"}
	if v, ok := fromStderr(statsKVMExits, 1)(kvm); !ok || v != 5123 {
		t.Errorf("KVM's exits: %v, %v; want 5123", v, ok)
	}
	up := scenario.Result{Stderr: "gokvm: stats: first KVM_RUN 80.0 ms after start; the guest ran 400.0 ms; 72 MMIO exits\ngokvm: stats: start-up, ms after start: checked 20.5, VM created 24.0, state restored 50.0, first KVM_RUN 80.0\n"}
	for _, c := range []struct {
		a, b string
		want float64
	}{{stepStart, "checked", 20.5}, {"checked", "VM created", 3.5}, {"state restored", stepFirstRun, 30}} {
		if v, ok := betweenSteps(c.a, c.b)(up); !ok || v != c.want {
			t.Errorf("start-up %s to %s: %v, %v; want %v", c.a, c.b, v, ok, c.want)
		}
	}
	if _, ok := betweenSteps("checked", "payload loaded")(up); ok {
		t.Error("a start-up step the line lacks was found")
	}
	byDev := scenario.Result{Stderr: "gokvm: stats: MMIO exits by device: sandbox-exit 45, virtio-9p0 (root) 20, uart1 (sandbox stdio) 7\n"}
	if v, ok := fromStderr(statsExitDev, 1)(byDev); !ok || v != 45 {
		t.Errorf("the status device's exits: %v, %v; want 45", v, ok)
	}
	halted := scenario.Result{Stderr: "gokvm: stats: KVM (binary statistics): exits 5, mmio_exit_user 1, wfi_exit_stat 2, halt_wakeup 0, halt_wait_ns 502821905, halt_poll_success_ns 0\n"}
	if v, ok := fromStderr(statsHaltWait, 1e-6)(halted); !ok || v < 502.8 || v > 502.9 {
		t.Errorf("the vcpus' halt time: %v ms, %v; want 502.8", v, ok)
	}
	traced := scenario.Result{Notes: []string{"$ tool kvmexits print\nHOST-KVM-EXITS total=2400 dabt=1500 iabt=200 irq=640 wfx=60\n"}}
	for kind, want := range map[string]float64{"total": 2400, "dabt": 1500, "iabt": 200, "irq": 640} {
		if v, ok := hostKVMExits(kind)(traced); !ok || v != want {
			t.Errorf("the host's %s exits: %v, %v; want %v", kind, v, ok, want)
		}
	}
	if v, ok := hostKVMExits("sysreg")(traced); ok {
		t.Errorf("the host's sysreg exits from a line without them: %v", v)
	}
	if _, ok := betweenSteps(stepSeen, stepReady)(scenario.Result{Stderr: "gokvm: stats: first KVM_RUN 20.5 ms after start"}); ok {
		t.Error("a figure from a run without a timeline line")
	}
}

// TestAlternateSwapsOrder: the VMMs take turns, and every other round
// the one that ran second runs first.
func TestAlternateSwapsOrder(t *testing.T) {
	c := &benchConfig{vmms: []vmmUnderTest{{label: "gokvm"}, {label: "kvmtool", peer: true}}}
	w := &workload{}
	ss := c.alternate(4, w, func(v vmmUnderTest, i int) scenario.Scenario {
		return scenario.Scenario{Name: fmt.Sprintf("%s-%d", v.label, i)}
	})
	var got []string
	for _, s := range ss {
		got = append(got, s.Name)
	}
	want := []string{"gokvm-0", "kvmtool-0", "kvmtool-1", "gokvm-1", "gokvm-2", "kvmtool-2", "kvmtool-3", "gokvm-3"}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if g := w.runs["gokvm"]; !slices.Equal(g, []string{"gokvm-0", "gokvm-1", "gokvm-2", "gokvm-3"}) {
		t.Errorf("gokvm's runs %v", g)
	}
	if k := w.runs["kvmtool"]; !slices.Equal(k, []string{"kvmtool-0", "kvmtool-1", "kvmtool-2", "kvmtool-3"}) {
		t.Errorf("kvmtool's runs %v", k)
	}
	if c.vmms[0].label != "gokvm" {
		t.Errorf("alternate reordered the configuration's VMMs: %v", c.vmms)
	}
}

// TestPairedRatios: each round's two runs make one ratio, speeds as the
// first over the second and times the other way round; a round where a
// run lacks the figure is left out.
func TestPairedRatios(t *testing.T) {
	value := map[string]float64{"g0": 10, "k0": 20, "g1": 30, "k1": 20, "g2": 5, "g3": 8, "k3": 8}
	res := map[string]scenario.Result{}
	for n := range value {
		res[n] = scenario.Result{Name: n}
	}
	res["k2"] = scenario.Result{Name: "k2"} // failed: no value
	value["g4"], value["k4"] = 0, 10        // a zero is no figure either
	res["g4"], res["k4"] = scenario.Result{Name: "g4"}, scenario.Result{Name: "k4"}
	get := func(r scenario.Result) (float64, bool) { v, ok := value[r.Name]; return v, ok }
	w := &workload{runs: map[string][]string{"gokvm": {"g0", "g1", "g2", "g3", "g4"}, "kvmtool": {"k0", "k1", "k2", "k3", "k4"}}}
	cols := []string{"gokvm", "kvmtool"}

	speed := figure{name: "speed", higher: true, get: get}
	if got, want := w.pairedRatios(speed, cols, res), []float64{0.5, 1, 1.5}; !slices.Equal(got, want) {
		t.Errorf("speed ratios %v, want %v", got, want)
	}
	time := figure{name: "time", get: get}
	if got, want := w.pairedRatios(time, cols, res), []float64{2.0 / 3, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("time ratios %v, want %v", got, want)
	}
	w.cost = true // what the first costs: its time over the second's
	if got, want := w.pairedRatios(time, cols, res), []float64{0.5, 1, 1.5}; !slices.Equal(got, want) {
		t.Errorf("cost ratios %v, want %v", got, want)
	}
}

// TestMedian: the middle value, or the mean of the two middle ones.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		vals []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1}, 2.5},
		{[]float64{1, 9, 2, 3}, 2.5},
	} {
		if got := median(c.vals); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.vals, got, c.want)
		}
	}
}
