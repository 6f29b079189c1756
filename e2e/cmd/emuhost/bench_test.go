package main

import (
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
