package e2e

import (
	"os"
	"slices"
	"strings"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// The virtio scenarios run again over virtio-pci unless GOKVM_E2E_PCI is
// 0, in the same boot of each emulated host as
// the others: a variant NAME@pci of each scenario with a virtio device
// gets --virtio-transport pci and the host's interrupt controller with an
// MSI controller (--irqchip gicv3-its on the GICv3 host, gicv2m on the
// GICv2 one; gokvm's choice on a direct host). The GICv2 host runs the
// variants of the GICv3 host's scenarios too, most of which it does not
// run over virtio-mmio (they do not depend on the interrupt controller
// there; over virtio-pci its MSIs are the GICv2m frame's). The tests see
// the variants as hosts of their own, "gicv3@pci" and "gicv2@pci"
// (hosts, oneHost, oneEmulated, result), and check them as they check
// the originals; a test whose scenario has no variant is skipped there.
var pciVariantsOn = os.Getenv("GOKVM_E2E_PCI") != "0"

// pciSuffix names a scenario's virtio-pci variant, and the pseudo-host
// its results are seen under.
const pciSuffix = "@pci"

// pciIRQChip is the --irqchip of a host kind's virtio-pci variants.
func pciIRQChip(host string) string {
	switch host {
	case "gicv3":
		return harness.MSIIRQChip(3)
	case "gicv2":
		return harness.MSIIRQChip(2)
	}
	return "" // auto: with pci, a GICv3 with an ITS, or a GICv2 with a GICv2m frame
}

// pciVariantSource is the host kind whose scenarios host runs virtio-pci
// variants of: the GICv2 host those of the GICv3 host.
func pciVariantSource(host string) string {
	if host == "gicv2" {
		return "gicv3"
	}
	return host
}

// pciVariants are the virtio-pci variants, for host, of the scenarios of
// ss that have a virtio device and can run over virtio-pci.
func pciVariants(host string, ss []scenario.Scenario) []scenario.Scenario {
	var out []scenario.Scenario
	for _, s := range ss {
		if !pciVariantFits(s) {
			continue
		}
		v := s
		v.Name = s.Name + pciSuffix
		v.Args = pciArgs(s.Args, pciIRQChip(host))
		out = append(out, v)
	}
	return out
}

// pciVariantFits: a gokvm run or sandbox (not another program, not a
// control command) with a virtio device, and nothing that cannot be over
// virtio-pci: a state saved or restored (a pci machine is not saved), a
// transport chosen already (mmio-legacy), a VM read from a config file
// that flags printed (--config: the flags and the file must make the
// same VM), a 32-bit guest (its kernel's modules have no virtio_pci
// here), a detached VM (the control scenarios), or the hostile guest (it
// drives virtio-mmio windows itself).
func pciVariantFits(s scenario.Scenario) bool {
	if s.Program != "" || len(s.Args) == 0 || (s.Args[0] != "run" && s.Args[0] != "sandbox") ||
		strings.HasPrefix(s.Name, "hostile") {
		return false
	}
	virtio := false
	for i, a := range s.Args {
		switch a {
		case "--restore", "--warm", "--virtio-transport", "--config", "--aarch32", "--detach", "--name":
			return false
		case "-d", "--disk", "--9p", "--vsock", "--rng":
			virtio = true
		case "-n", "--network":
			virtio = virtio || (i+1 < len(s.Args) && !strings.Contains(s.Args[i+1], "mode=none"))
		case "--console":
			virtio = virtio || (i+1 < len(s.Args) && s.Args[i+1] == "virtio")
		}
		if a == "--" {
			break // a sandbox's command follows
		}
	}
	// A sandbox always has its root on virtio-9p.
	return virtio || s.Args[0] == "sandbox"
}

// pciArgs are a run's or sandbox's arguments over virtio-pci: the
// transport and interrupt controller right after the command, any
// --irqchip it had dropped.
func pciArgs(args []string, irqchip string) []string {
	out := []string{args[0], "--virtio-transport", "pci"}
	if irqchip != "" {
		out = append(out, "--irqchip", irqchip)
	}
	rest := slices.Clone(args[1:])
	for i := 0; i < len(rest); i++ {
		if rest[i] == "--" {
			break
		}
		if rest[i] == "--irqchip" && i+1 < len(rest) {
			rest = slices.Delete(rest, i, i+2)
			i--
		}
	}
	return append(out, rest...)
}

// withPCIHosts are host kinds and, with the variants on, their
// virtio-pci pseudo-hosts.
func withPCIHosts(hs ...string) []string {
	if !pciVariantsOn {
		return hs
	}
	out := slices.Clone(hs)
	for _, h := range hs {
		out = append(out, h+pciSuffix)
	}
	return out
}
