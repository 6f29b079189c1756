package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, consoleScenarios)
}

// consoleScenarios: two boots, neither depending on the GIC.
//
//   - console-pl011: --console pl011 --rng with the command line CI
//     harnesses hard-code for QEMU's virt board (console=ttyAMA0
//     earlycon=pl011,0x9000000): the guest's marker on gokvm's stdout,
//     gokvm's stdin read from ttyAMA0, the earlycon and driver lines in
//     the kernel log; then virtio-rng loaded and 4096 bytes read from
//     /dev/hwrng.
//   - console-virtio: --console virtio -p console=hvc0: the guest loads
//     virtio_console, makes /dev/hvc0 its stdio, writes its marker there
//     and reads a line gokvm's stdin carried.
//   - sandbox-pl011: gokvm sandbox --console pl011 (no kernel boot of its
//     own beyond the sandbox's).
func consoleScenarios(host string) []scenario.Scenario {
	if host == "gicv2" {
		return nil
	}
	pl011Actions := strings.Join([]string{
		"marker", "readline",
		"kmsg:earlycon:_pl", "kmsg:ttyAMA0_at_MMIO_0x9000000",
		"modules:virtio_mmio:virtio-rng", "hwrng",
		"poweroff",
	}, ",")
	virtioActions := "modules:virtio_mmio:virtio_console,hvc0,marker,readline,poweroff"
	ss := []scenario.Scenario{
		{Name: "console-pl011", Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio",
			"--console", "pl011", "--rng",
			"-p", "console=ttyAMA0 earlycon=pl011,0x9000000 quiet panic=-1 gokvm.do=" + pl011Actions},
			Stdin: "hello over the pl011\n", StdinAfter: "GOKVM-GUEST-MARKER", Timeout: 90 * time.Second},
		{Name: "console-virtio", Args: []string{"run", "-k", "$GUEST/Image", "-i", "$GUEST/initrd.cpio",
			"--console", "virtio",
			"-p", "console=hvc0 quiet panic=-1 gokvm.do=" + virtioActions},
			Stdin: "hello over hvc0\n", StdinAfter: "GOKVM-GUEST-MARKER", Timeout: 90 * time.Second},
	}
	if host == "direct" {
		return ss // the sandbox scenario uses the emulated host's tools
	}
	// gokvm sandbox --console pl011: the kernel console on ttyAMA0 in
	// the console log, CMD's output on its own serial port exactly.
	return append(ss, scenario.Scenario{Name: "sandbox-pl011", Program: tool,
		Args: append([]string{"capture", "$WORK/stdout", "/gokvm"},
			sandboxArgs("--console", "pl011", "--console-log", "$WORK/console.log", "--", "sh", "-c", "echo hello")...),
		Collect: []string{"$WORK/stdout", "$WORK/console.log"}, Timeout: 150 * time.Second})
}

var guestHWRNG = regexp.MustCompile(`GUEST-HWRNG current=(\S+) bytes=(\d+) zeros=(\d+)`)

// TestConsolePL011: the guest boots on a PL011 where QEMU's virt board
// has one, with the parameters CI harnesses pass QEMU.
func TestConsolePL011(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "console-pl011")
		out := r.Output()
		if !strings.Contains(out, "GOKVM-GUEST-MARKER") {
			t.Fatalf("no guest marker on gokvm's stdout; exit %d", r.Exit)
		}
		if !strings.Contains(out, "GUEST-ECHO hello over the pl011") {
			t.Errorf("the guest did not read gokvm's standard input from ttyAMA0")
		}
		if l := lineWith(out, "GUEST-KMSG found earlycon: pl"); !strings.Contains(l, "0x0000000009000000") {
			t.Errorf("no pl011 earlycon at 0x9000000 in the kernel log: %q", l)
		}
		if !strings.Contains(out, "GUEST-KMSG found 9000000.pl011: ttyAMA0 at MMIO 0x9000000") {
			t.Errorf("amba-pl011 did not bind ttyAMA0 at 0x9000000: %q", lineWith(out, "GUEST-KMSG"))
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

// TestRNG: with --rng the guest's hw_random core uses virtio-rng, and
// /dev/hwrng gives 4096 bytes that are not all zero.
func TestRNG(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "console-pl011")
		m := guestHWRNG.FindStringSubmatch(r.Output())
		if m == nil {
			t.Fatalf("no GUEST-HWRNG line: %q", lineWith(r.Output(), "GUEST-ERROR"))
		}
		if !strings.HasPrefix(m[1], "virtio") {
			t.Errorf("rng_current %s, want a virtio-rng", m[1])
		}
		if m[2] != "4096" {
			t.Errorf("read %s bytes from /dev/hwrng, want 4096", m[2])
		}
		if m[3] == m[2] {
			t.Errorf("all %s bytes from /dev/hwrng are zero", m[2])
		}
	})
}

// TestConsoleVirtio: with --console virtio the guest's hvc0 is gokvm's
// stdout and stdin.
func TestConsoleVirtio(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "console-virtio")
		out := r.Output()
		if l := lineWith(out, "GUEST-HVC0 open"); !strings.Contains(l, "hvc0") {
			t.Fatalf("the guest did not open hvc0 (%q); exit %d, %q", l, r.Exit, lineWith(out, "GUEST-ERROR"))
		}
		if !strings.Contains(out, "GOKVM-GUEST-MARKER") {
			t.Errorf("no marker from hvc0 on gokvm's stdout")
		}
		if !strings.Contains(out, "GUEST-ECHO hello over hvc0") {
			t.Errorf("the guest did not read gokvm's standard input from hvc0")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

// TestSandboxPL011: gokvm sandbox with --console pl011 keeps the kernel
// console (on ttyAMA0) in --console-log and CMD's output apart.
func TestSandboxPL011(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		if h == "direct" {
			t.Skip("needs the emulated host's tools")
		}
		r := sandboxResult(t, h, "sandbox-pl011", 0)
		if got := string(r.Files["$WORK/stdout"]); got != "hello\n" {
			t.Errorf("stdout %q, want exactly %q", got, "hello\n")
		}
		log := string(r.Files["$WORK/console.log"])
		for _, want := range []string{"Booting Linux", "ttyAMA0 at MMIO 0x9000000", "gokvm-sandbox: status 0"} {
			if !strings.Contains(log, want) {
				t.Errorf("--console-log lacks %q:\n%s", want, log)
			}
		}
		if strings.Contains(log, "hello") {
			t.Errorf("the command's output is in the console log")
		}
	})
}
