package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
	"github.com/gokvm/gokvm/machine"
)

// Payloads that are not Linux kernels, booted through gokvm run as
// kvmtool boots them (docs/payloads.md): the hello guests of
// internal/tinyguest, written to files without any kernel header. Each
// checks on its vcpu 0 that it was entered at its first byte where
// kvmtool puts it and that the boot register points at the device tree
// where kvmtool puts that, prints on the 16550, starts vcpu 1 by PSCI
// CPU_ON, and vcpu 1 prints and powers off.

func init() {
	extraPrepare = append(extraPrepare, writeHelloPayloads)
	extraScenarios = append(extraScenarios, payloadScenarios)
}

// helloPayload is one hello guest: its file in $GUEST, where it must be
// entered, where its device tree must be (-m 256 at 0x80000000), and the
// gokvm run flags that boot it.
type helloPayload struct {
	scenario, file string
	a32            bool
	load, fdt      uint64
	args           []string
	// warning is what gokvm must say on stderr ("" for none).
	warning string
}

const ram = arm64.DefaultRAMBase

var helloPayloads = []helloPayload{
	{scenario: "flat-kernel", file: "hello.flat", load: ram + 0x80000, fdt: ram + 254<<20,
		args:    []string{"-k", "$GUEST/hello.flat"},
		warning: "gokvm: kernel %s has no arm64 Image header; loading it as a flat binary at 0x80080000 as kvmtool does"},
	{scenario: "flat-firmware", file: "hello.fw", load: ram, fdt: ram + 2<<20,
		args: []string{"--firmware", "$GUEST/hello.fw"}},
	{scenario: "flat-firmware-address", file: "hello.fwaddr", load: ram + 3<<20, fdt: ram + 4<<20,
		args: []string{"--firmware", "$GUEST/hello.fwaddr", "--firmware-address", "0x80300000"}},
	{scenario: "flat-a32", file: "hello32.flat", a32: true, load: ram + 0x8000, fdt: ram + 254<<20,
		args:    []string{"--aarch32", "-k", "$GUEST/hello32.flat"},
		warning: "gokvm: kernel %s has no zImage magic; loading it as a flat binary at 0x80008000 as kvmtool does"},
}

func writeHelloPayloads(b *harness.Build) error {
	for _, p := range helloPayloads {
		var code []byte
		var err error
		if p.a32 {
			code, err = tinyguest.Hello32(p.scenario, arm64.PlatformBase, uint32(p.load), uint32(p.fdt))
		} else {
			code, err = tinyguest.Hello(p.scenario, arm64.PlatformBase, p.load, p.fdt)
		}
		if err != nil {
			return fmt.Errorf("assembling %s: %w", p.file, err)
		}
		if err := os.WriteFile(filepath.Join(b.GuestDir, p.file), code, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func payloadScenarios(string) []scenario.Scenario {
	var ss []scenario.Scenario
	for _, p := range helloPayloads {
		args := append([]string{"run", "-c", "2", "-m", "256"}, p.args...)
		ss = append(ss, scenario.Scenario{Name: p.scenario, Args: args, Timeout: 60 * time.Second})
	}
	return ss
}

// TestFlatPayloads: each hello guest ran on both vcpus and powered off
// (status 0), and gokvm warned of a flat kernel, naming the file.
func TestFlatPayloads(t *testing.T) {
	for _, h := range hosts() {
		for _, p := range helloPayloads {
			t.Run(h+"/"+p.scenario, func(t *testing.T) {
				r := result(t, h, p.scenario)
				out := r.Output()
				for _, want := range []string{tinyguest.HelloLine(p.scenario, "vcpu0 ok"), tinyguest.HelloLine(p.scenario, "vcpu1 up")} {
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
				if p.warning == "" {
					if strings.Contains(r.Stderr, "flat binary") {
						t.Errorf("a warning for firmware: %q", r.Stderr)
					}
					return
				}
				// $GUEST is wherever the host put the payloads: match the
				// file by its name.
				before, after, ok := strings.Cut(p.warning, "%s")
				i := strings.Index(r.Stderr, before)
				if !ok || i < 0 || !strings.Contains(r.Stderr[i:], "/"+p.file+after) {
					t.Errorf("stderr %q lacks the warning %q", r.Stderr, p.warning)
				}
			})
		}
	}
}
