package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/machine"
)

// Payloads that are not Linux kernels, booted through gokvm run as
// kvmtool boots them (docs/payloads.md): the hello guests of
// internal/tinyguest (harness.HelloPayloads), written to files without any kernel header. Each
// checks on its vcpu 0 that it was entered at its first byte where
// kvmtool puts it and that the boot register points at the device tree
// where kvmtool puts that, prints on the 16550, starts vcpu 1 by PSCI
// CPU_ON, and vcpu 1 prints and powers off.

func init() {
	extraPrepare = append(extraPrepare, harness.WriteHelloPayloads)
	extraScenarios = append(extraScenarios, payloadScenarios)
}

func payloadScenarios(string) []scenario.Scenario {
	var ss []scenario.Scenario
	for _, p := range harness.HelloPayloads {
		args := append(append([]string{"run"}, harness.HelloRunArgs...), p.Args...)
		ss = append(ss, scenario.Scenario{Name: p.Tag, Args: args, Timeout: 60 * time.Second})
	}
	return ss
}

// TestFlatPayloads: each hello guest ran on both vcpus and powered off
// (status 0), and gokvm warned of a flat kernel, naming the file.
func TestFlatPayloads(t *testing.T) {
	for _, h := range hosts() {
		for _, p := range harness.HelloPayloads {
			t.Run(h+"/"+p.Tag, func(t *testing.T) {
				r := result(t, h, p.Tag)
				out := r.Output()
				for _, want := range []string{tinyguest.HelloLine(p.Tag, "vcpu0 ok"), tinyguest.HelloLine(p.Tag, "vcpu1 up")} {
					if !strings.Contains(out, want) {
						t.Errorf("the console lacks %q", want)
					}
				}
				if strings.Contains(out, "FAIL") {
					t.Errorf("the guest found its entry state wrong")
				}
				if r.Exit != machine.ExitPowerOff {
					t.Errorf("exit status %d, want %d (powered off)", r.Exit, machine.ExitPowerOff)
				}
				if p.Warning == "" {
					if strings.Contains(r.Stderr, "flat binary") {
						t.Errorf("a warning for firmware: %q", r.Stderr)
					}
					return
				}
				// $GUEST is wherever the host put the payloads: match the
				// file by its name.
				before, after, ok := strings.Cut(p.Warning, "%s")
				i := strings.Index(r.Stderr, before)
				if !ok || i < 0 || !strings.Contains(r.Stderr[i:], "/"+p.File+after) {
					t.Errorf("stderr %q lacks the warning %q", r.Stderr, p.Warning)
				}
			})
		}
	}
}
