// Package e2e boots real guest kernels under gokvm on real KVM/ARM: inside
// an emulated arm64 host (qemu-system-aarch64 with virtualization=on) on
// x86 machines, or directly on an arm64 host with /dev/kvm.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

var verbose = flag.Bool("e2e.console", false, "copy the emulated hosts' consoles to stderr")

// results holds every scenario's result per host kind ("gicv3", "gicv2", or
// "direct"), filled once by TestMain: each emulated host boots once and runs
// all scenarios, because booting it is what costs.
var results = map[string]map[string]scenario.Result{}

// hostErrs are the errors of emulated hosts that did not finish their
// scenarios, by host kind: why a scenario has no result.
var hostErrs = map[string]error{}

// build is what TestMain built.
var build *harness.Build

// only is GOKVM_E2E_SCENARIOS compiled: a regexp choosing the scenarios
// that run, by name (all when the variable is empty), so that one
// feature can be iterated on without booting through every scenario.
var only *regexp.Regexp

// selected keeps the scenarios that only chooses.
func selected(ss []scenario.Scenario) []scenario.Scenario {
	if only == nil {
		return ss
	}
	var out []scenario.Scenario
	for _, s := range ss {
		if only.MatchString(s.Name) {
			out = append(out, s)
		}
	}
	return out
}

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // listing tests boots nothing
	}
	if testing.Short() {
		fmt.Println("e2e: -short given: the end-to-end tests are skipped")
		os.Exit(m.Run())
	}
	if pciVariantsOn {
		fmt.Printf("e2e: the virtio scenarios run again over virtio-pci (NAME%s; GOKVM_E2E_PCI=0 leaves them out)\n", pciSuffix)
	}
	if re := os.Getenv("GOKVM_E2E_SCENARIOS"); re != "" {
		var err error
		if only, err = regexp.Compile(re); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: GOKVM_E2E_SCENARIOS: %v\n", err)
			os.Exit(2)
		}
		fmt.Printf("e2e: only scenarios matching GOKVM_E2E_SCENARIOS=%q run\n", re)
	}
	dir, err := os.MkdirTemp("", "gokvm-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		start := time.Now()
		build, err = harness.Prepare(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		if err := prepareExtras(build); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		fmt.Printf("e2e: built payloads in %s\n", harness.Elapsed(start))
		if harness.Direct() {
			results["direct"] = harness.RunDirect(build, selected(Scenarios("direct")))
		} else {
			fmt.Printf("e2e: emulated hosts run on %s\n", harness.QEMUVersion())
			for _, gic := range []int{3, 2} {
				kind := fmt.Sprintf("gicv%d", gic)
				chosen := selected(Scenarios(kind))
				if len(chosen) == 0 {
					fmt.Printf("e2e: no scenario chosen for the %s host: it is not booted\n", kind)
					continue
				}
				t0 := time.Now()
				// The GICv3 host's scenarios take 8-10 min on an idle
				// 2-core machine; the limit leaves room for a loaded one.
				limit := 18 * time.Minute
				if pciVariantsOn {
					limit *= 2 // each host runs the virtio scenarios twice
				}
				ctx, cancel := context.WithTimeout(context.Background(), limit)
				var console *os.File
				if *verbose {
					console = os.Stderr
				}
				res, err := harness.RunEmulated(ctx, build, harness.Host{GIC: gic}, chosen, consoleWriter(console))
				cancel()
				if err != nil {
					fmt.Fprintf(os.Stderr, "e2e: %s host: %v\n", kind, err)
					hostErrs[kind] = err
				}
				results[kind] = res
				fmt.Printf("e2e: emulated %s host ran %d scenarios in %s\n", kind, len(res), harness.Elapsed(t0))
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

func consoleWriter(f *os.File) interface{ Write([]byte) (int, error) } {
	if f == nil {
		return nil
	}
	return f
}

// hosts lists the host kinds the results cover.
func hosts() []string {
	if harness.Direct() {
		return withPCIHosts("direct")
	}
	return withPCIHosts("gicv3", "gicv2")
}

// result fetches a scenario's result on a host kind, failing the test
// when it did not run.
func result(t *testing.T, host, name string) scenario.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: not run with -short")
	}
	variant := strings.HasSuffix(host, pciSuffix)
	if variant {
		host, name = strings.TrimSuffix(host, pciSuffix), name+pciSuffix
	}
	if only != nil && !only.MatchString(name) {
		t.Skipf("scenario %q is not chosen by GOKVM_E2E_SCENARIOS=%q", name, only)
	}
	r, ok := results[host][name]
	switch {
	case !ok && hostErrs[host] != nil:
		first, _, _ := strings.Cut(hostErrs[host].Error(), "; console:")
		t.Fatalf("scenario %q did not run on the %s host: %s", name, host, first)
	case !ok && variant:
		t.Skipf("scenario %q has no virtio-pci variant (no virtio device, or one that cannot run over virtio-pci: transports.go)", strings.TrimSuffix(name, pciSuffix))
	case !ok:
		t.Fatalf("scenario %q did not run on the %s host", name, host)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario %s on %s: exit %d after %d ms\nconsole:\n%s\nstderr:\n%s\nnotes:\n%v",
				name, host, r.Exit, r.ElapsedMS, r.Output(), r.Stderr, r.Notes)
		}
	})
	return r
}

// oneHost runs f on one host kind: the GICv3 emulated host, or the arm64
// host itself. Features that do not depend on the interrupt controller are
// tested there only, so that each costs one nested boot, not two; their
// scenario functions return nothing for "gicv2".
func oneHost(t *testing.T, f func(t *testing.T, h string)) {
	h := "gicv3"
	if harness.Direct() {
		h = "direct"
	}
	t.Run(h, func(t *testing.T) { f(t, h) })
	for _, p := range pciHostsOf(h) {
		t.Run(p, func(t *testing.T) { f(t, p) })
	}
}

// pciHostsOf are the virtio-pci pseudo-hosts whose variants are of host
// kind h's scenarios (unless GOKVM_E2E_PCI=0): the GICv3 host's run on both
// emulated hosts.
func pciHostsOf(h string) []string {
	switch {
	case !pciVariantsOn:
		return nil
	case h == "gicv3":
		return []string{"gicv3" + pciSuffix, "gicv2" + pciSuffix}
	}
	return []string{h + pciSuffix}
}

// oneEmulated runs f on the GICv3 emulated host only: for scenarios that
// need the emulated host's own files (busybox, helper tools) and do not
// depend on the interrupt controller. Nothing runs on a direct host.
func oneEmulated(t *testing.T, f func(t *testing.T, h string)) {
	if harness.Direct() {
		t.Skip("these scenarios use the emulated host's files")
	}
	t.Run("gicv3", func(t *testing.T) { f(t, "gicv3") })
	for _, p := range pciHostsOf("gicv3") {
		t.Run(p, func(t *testing.T) { f(t, p) })
	}
}
