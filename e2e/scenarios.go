package e2e

import (
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// extraScenarios lets feature test files add their scenarios.
var extraScenarios []func(host string) []scenario.Scenario

// extraPrepare lets feature test files build payloads of their own.
var extraPrepare []func(b *harness.Build) error

func prepareExtras(b *harness.Build) error {
	for _, f := range extraPrepare {
		if err := f(b); err != nil {
			return err
		}
	}
	return nil
}

// guestParams is the guest command line for a list of guestinit actions.
func guestParams(actions string) string {
	return "console=ttyS0 quiet panic=-1 gokvm.do=" + actions
}

// bootArgs is a gokvm run of the test kernel and initramfs.
func bootArgs(actions string, extra ...string) []string {
	args := []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio", "-p", guestParams(actions)}
	return append(args, extra...)
}

// gicFlags gives the irqchip that works and the one that must fail on a host
// kind; "" where the host kind does not tell.
func gicFlags(host string) (right, wrong string) {
	switch host {
	case "gicv3":
		return "gicv3", "gicv2"
	case "gicv2":
		return "gicv2", "gicv3"
	}
	return "", ""
}

// Scenarios is every gokvm run the end-to-end tests assert on, for one
// host: unless GOKVM_E2E_PCI=0, the virtio-pci variants too (transports.go).
func Scenarios(host string) []scenario.Scenario {
	ss := baseScenarios(host)
	if pciVariantsOn {
		src := ss
		if from := pciVariantSource(host); from != host {
			src = baseScenarios(from)
		}
		ss = append(ss, pciVariants(host, src)...)
	}
	return ss
}

// baseScenarios are a host's scenarios over the transports they name
// (virtio-mmio, unless they say otherwise).
func baseScenarios(host string) []scenario.Scenario {
	right, wrong := gicFlags(host)
	ss := []scenario.Scenario{
		{Name: "boot-2cpus", Args: bootArgs("marker,cpus,sleep2,poweroff", "-c", "2", "-m", "256", "--stats")},
		{Name: "reboot", Args: bootArgs("marker,reboot")},
		{Name: "panic", Args: bootArgs("marker,panic")},
		{Name: "too-many-cpus", Args: bootArgs("poweroff", "-c", "100000")},
		{Name: "timeout", Args: bootArgs("marker,sleep2,sleep2,sleep2,poweroff", "--timeout", "2s"), Timeout: 60 * time.Second},
		{Name: "dump-dtb", Args: bootArgs("poweroff", "-c", "3", "--dump-dtb", "$WORK/guest.dtb"), Collect: []string{"$WORK/guest.dtb"}},
		{Name: "kvm-device-null", Args: bootArgs("poweroff", "--kvm-device", "/dev/null")},
		{Name: "console-input", Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio",
			"-p", guestParams("marker,readline,kmsg:earlycon:_uart8250_at_MMIO_0x0000000001000000,kmsg:ttyS0_at_MMIO_0x1000000,poweroff") + " earlycon=uart8250,mmio,0x1000000"},
			Stdin: "hello from the host\n", StdinAfter: "GOKVM-GUEST-MARKER", Timeout: 60 * time.Second},
		{Name: "sigterm", Args: bootArgs("marker,hang", "-c", "2"), Timeout: 60 * time.Second,
			Signals: []scenario.TimedSignal{{After: 12 * time.Second, Signal: syscall.SIGUSR1}, {After: 15 * time.Second, Signal: syscall.SIGTERM}}},
	}
	if right != "" {
		ss[1].Args = append(ss[1].Args, "--irqchip", right)
		ss = append(ss, scenario.Scenario{Name: "wrong-irqchip", Args: bootArgs("poweroff", "--irqchip", wrong)})
	}
	for _, f := range extraScenarios {
		ss = append(ss, f(host)...)
	}
	return ss
}
