package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

// The PCI attacker: the hostile guest (e2e/hostile, hostile.mode=pci)
// against the virtio-pci transport, on each emulated host with its MSI
// controller (the GICv3's ITS, the GICv2's GICv2m frame). Through
// /dev/mem it walks ECAM, writes random values to every configuration
// dword, puts the BARs over RAM, the GIC, ECAM, 0, all-ones and each
// other, fills the MSI-X tables with messages to the MSI controller's
// doorbell with random data, to RAM and to unmapped space, drives the
// common configuration, doorbells, ISR and device configuration at
// random, and does it from both vcpus at once (pci_steps.go there).
// Then it resets each function and reads the first page of each disk as
// a driver would.

// hostilePCISteps are its steps, in order.
var hostilePCISteps = []string{
	"pci-config-random", "pci-bars-wild", "pci-msix-random", "pci-common-random",
	"pci-notify-random", "pci-isr-devcfg", "pci-pcicfg", "pci-two-vcpus",
}

func init() {
	extraScenarios = append(extraScenarios, hostilePCIScenarios)
}

func hostilePCIScenarios(host string) []scenario.Scenario {
	irqchip := pciIRQChip(host)
	if irqchip == "" {
		return nil // the emulated hosts only: the helper tool is theirs
	}
	before, after := hostileDisks()
	// iomem=relaxed: the kernel's host bridge driver holds ECAM busy,
	// which /dev/mem refuses to map otherwise (CONFIG_IO_STRICT_DEVMEM).
	return []scenario.Scenario{{Name: "hostile-pci",
		Args:   hostileArgs("hostile.mode=pci iomem=relaxed", "120s", "--virtio-transport", "pci", "--irqchip", irqchip),
		Before: before, After: after, Timeout: 150 * time.Second}}
}

// TestHostilePCI: gokvm survives the PCI attacker on both emulated hosts
// and exits 0 when it powers off; the golden disk is unchanged and reads
// right afterwards.
func TestHostilePCI(t *testing.T) {
	if harness.Direct() {
		t.Skip("these scenarios use the emulated host's files")
	}
	for _, h := range []string{"gicv3", "gicv2"} {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "hostile-pci")
			var seen strings.Builder
			for _, l := range r.Lines {
				if strings.HasPrefix(l.Text, "HOSTILE-") {
					fmt.Fprintf(&seen, "%6d ms %s\n", l.MS, l.Text)
				}
			}
			t.Logf("exit %d after %d ms; the guest:\n%sgokvm's stderr:\n%s", r.Exit, r.ElapsedMS, seen.String(), r.Stderr)
			checkHostilePCI(t, r, pciIRQChip(h))
		})
	}
}

func checkHostilePCI(t *testing.T, r scenario.Result, irqchip string) {
	t.Helper()
	out := r.Output()
	if r.Exit != machine.ExitPowerOff {
		t.Errorf("gokvm exit status %d, want %d (powered off)", r.Exit, machine.ExitPowerOff)
	}
	for _, bad := range []string{"panic", "fatal error", "goroutine "} {
		if strings.Contains(r.Stderr, bad) {
			t.Errorf("gokvm's stderr has %q", bad)
		}
	}
	if !strings.Contains(out, "HOSTILE-SEED ") {
		t.Errorf("the hostile guest did not print its seed")
	}
	wantKind := map[string]string{"gicv3-its": "its", "gicv2m": "v2m"}[irqchip]
	if !strings.Contains(out, "kind="+wantKind) {
		t.Errorf("the hostile guest did not find the %s doorbell in the device tree", irqchip)
	}
	for _, s := range hostilePCISteps {
		started := strings.Contains(out, "HOSTILE-STEP "+s+" start")
		done := strings.Contains(out, "HOSTILE-STEP "+s+" done")
		switch {
		case started && !done:
			t.Errorf("gokvm stopped during step %s", s)
		case !done:
			t.Errorf("step %s did not run", s)
		}
	}
	if strings.Contains(out, "HOSTILE-ERROR") {
		t.Errorf("the hostile guest reported errors")
	}
	if !strings.Contains(out, "HOSTILE-POWEROFF") {
		t.Errorf("the hostile guest did not get to power off")
	}
	golden := false
	for _, m := range hostileRead.FindAllStringSubmatch(out, -1) {
		when, dev, status, used, sum := m[1], m[2], m[3], m[4], m[5]
		if when != "after" || dev != "golden" {
			continue
		}
		golden = true
		if want := hostileGoldenFirstPage(); status != "0" || used != "1" || sum != want {
			t.Errorf("legal read of the golden disk after the attack: status %s, %s used, SHA-256 %s, want status 0, 1 used, %s",
				status, used, sum, want)
		}
	}
	if !golden {
		t.Errorf("no legal read of the golden disk after the attack")
	}
	checkHostileDisks(t, r)
}
