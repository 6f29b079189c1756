package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/machine"
)

func TestBootPowerOffWithTwoCPUs(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "boot-2cpus")
			if r.Exit != machine.ExitPowerOff {
				t.Errorf("exit status %d, want %d (powered off)", r.Exit, machine.ExitPowerOff)
			}
			if r.LineMS("GOKVM-GUEST-MARKER") < 0 {
				t.Errorf("the guest init's marker never appeared")
			}
			if !strings.Contains(r.Output(), "GUEST-CPUS-ONLINE 0-1 ") {
				t.Errorf("the guest does not see CPUs 0-1 online")
			}
			if !strings.Contains(r.Stderr, "first KVM_RUN") {
				t.Errorf("--stats printed no figures")
			}
			checkKVMStats(t, r.Stderr)
			checkStartup(t, r.Stderr, "checked", "VM created", "RAM mapped", "vcpus and GIC made", "devices made",
				"payload loaded", "system call filter installed", "first KVM_RUN")
			checkKvmtoolEnd(t, r.Stderr, true)
		})
	}
}

var (
	statsKVM  = regexp.MustCompile(`stats: KVM \(([^)]+)\): exits ([0-9]+), mmio_exit_user ([0-9]+)`)
	statsVcpu = regexp.MustCompile(`stats: KVM vcpu[01]: exits [1-9]`)
	statsCPU  = regexp.MustCompile(`stats: CPU [0-9.]+ s user, [0-9.]+ s system, of which [0-9.]+ s in the guest`)
	statsMMIO = regexp.MustCompile(`([0-9]+) MMIO exits`)
)

var statsStartup = regexp.MustCompile(`stats: start-up, ms after start: (.*)`)

// checkStartup: --stats' start-up line names steps, each at its time
// after start, in order and not earlier than the one before; want are
// the steps it must have, in that order (others may come between).
func checkStartup(t *testing.T, stderr string, want ...string) {
	t.Helper()
	m := statsStartup.FindStringSubmatch(stderr)
	if m == nil {
		t.Errorf("--stats printed no start-up steps:\n%s", stderr)
		return
	}
	last, i := -1.0, 0
	for _, field := range strings.Split(m[1], ", ") {
		cut := strings.LastIndexByte(field, ' ')
		at, err := strconv.ParseFloat(field[cut+1:], 64)
		if cut < 0 || err != nil || at < last {
			t.Errorf("start-up step %q is not a name and a time after the one before (%.1f): %s", field, last, m[0])
			return
		}
		last = at
		if i < len(want) && field[:cut] == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("start-up steps lack %q (in this order: %q): %s", want[i], want, m[0])
	}
}

// checkKVMStats: --stats with two vcpus prints what KVM counted for the
// VM, each vcpu's exits, and gokvm's CPU time. The emulated host's Linux
// 6.1 has binary statistics; directly on an arm64 host an older kernel
// may have only debugfs (root), or neither, which --stats says.
func checkKVMStats(t *testing.T, stderr string) {
	t.Helper()
	if !statsCPU.MatchString(stderr) {
		t.Errorf("--stats printed no CPU time:\n%s", stderr)
	}
	m := statsKVM.FindStringSubmatch(stderr)
	if m == nil {
		if harness.Direct() && strings.Contains(stderr, "KVM's counters are unavailable") {
			t.Logf("this host's KVM does not tell its counters: %s", stderr)
			return
		}
		t.Fatalf("--stats printed no KVM counters:\n%s", stderr)
	}
	exits, _ := strconv.Atoi(m[2])
	mmio, _ := strconv.Atoi(m[3])
	ours := statsMMIO.FindStringSubmatch(stderr)
	// KVM's MMIO exits to user space are the ones gokvm served.
	if exits == 0 || ours == nil || m[3] != ours[1] || mmio > exits {
		t.Errorf("KVM counted %d exits, %d MMIO exits to gokvm; gokvm counted %v", exits, mmio, ours)
	}
	if m[1] == "binary statistics" && len(statsVcpu.FindAllString(stderr, -1)) != 2 {
		t.Errorf("--stats printed no exits for each of the 2 vcpus:\n%s", stderr)
	}
	if !harness.Direct() && m[1] != "binary statistics" {
		t.Errorf("KVM's counters from %s, want binary statistics (Linux 6.1)", m[1])
	}
}

var sleepEnd = regexp.MustCompile(`GUEST-SLEEP-END uptime=[0-9.]+ elapsed=([0-9.]+)`)

func TestGuestTimer(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "boot-2cpus")
			m := sleepEnd.FindStringSubmatch(r.Output())
			if m == nil {
				t.Fatalf("the guest's sleep 2 never finished")
			}
			up, _ := strconv.ParseFloat(m[1], 64)
			if up < 1.95 || up > 2.5 {
				t.Errorf("sleep 2 took %.2f s of guest uptime, want about 2", up)
			}
			// The host's clock must agree that the guest slept 2 s: a
			// wrongly scaled guest timer would make it return early.
			// The host stamps a line when it reads it, and on a loaded
			// emulated host one line can reach it a few hundred ms
			// late (1790 ms seen for a guest's 2.03 s), so the bound
			// catches a scaling error, not jitter.
			hostMS := r.LineMS("GUEST-SLEEP-END") - r.LineMS("GUEST-SLEEP-START")
			if hostMS < 1500 {
				t.Errorf("sleep 2 in the guest took only %d ms of host time", hostMS)
			}
		})
	}
}

func TestGuestRebootIsReset(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "reboot")
			if r.LineMS("GUEST-REBOOTING") < 0 {
				t.Fatalf("the guest never reached its reboot")
			}
			if r.Exit != machine.ExitReset {
				t.Errorf("exit status %d after a guest reboot, want %d (reset)", r.Exit, machine.ExitReset)
			}
			checkKvmtoolEnd(t, r.Stderr, true)
		})
	}
}

func TestGuestPanicIsReset(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "panic")
			if r.LineMS("GUEST-PANICKING") < 0 {
				t.Fatalf("the guest never reached its panic")
			}
			if !strings.Contains(r.Output(), "Kernel panic") {
				t.Errorf("no kernel panic on the console")
			}
			if r.Exit != machine.ExitReset {
				t.Errorf("exit status %d after a guest panic with panic=-1, want %d (reset)", r.Exit, machine.ExitReset)
			}
			checkKvmtoolEnd(t, r.Stderr, true)
		})
	}
}

func TestWrongIRQChipFailsClearly(t *testing.T) {
	for _, h := range hosts() {
		_, wrong := gicFlags(h)
		if wrong == "" {
			continue // a direct host: which GIC it lacks is not known
		}
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "wrong-irqchip")
			if r.Exit != machine.ExitUsage {
				t.Errorf("exit status %d with --irqchip %s on a %s host, want %d", r.Exit, wrong, h, machine.ExitUsage)
			}
			if !strings.Contains(r.Stderr, "--irqchip "+wrong) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("want a one-line error naming --irqchip %s, got %q", wrong, r.Stderr)
			}
		})
	}
}

func TestTooManyVcpus(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "too-many-cpus")
			if r.Exit != machine.ExitUsage || !strings.Contains(r.Stderr, "allows at most") {
				t.Errorf("exit %d, stderr %q; want %d and the host's vcpu limit", r.Exit, r.Stderr, machine.ExitUsage)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "timeout")
			if r.Exit != machine.ExitTimeout {
				t.Errorf("exit status %d after --timeout, want %d", r.Exit, machine.ExitTimeout)
			}
			if strings.Contains(r.Output(), "GUEST-POWEROFF") {
				t.Errorf("the guest powered off before the timeout; the scenario does not test it")
			}
			if !strings.Contains(r.Stderr, "timeout: the guest ran for 2s") || !vcpuDumpLine(0).MatchString(r.Stderr) {
				t.Errorf("stderr %q does not report the timeout and where vcpu 0 was", r.Stderr)
			}
			checkKvmtoolEnd(t, r.Stderr, false)
		})
	}
}

func TestNotAKVMDevice(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "kvm-device-null")
			if r.Exit != machine.ExitFailure || !strings.Contains(r.Stderr, "/dev/null is not a KVM device") {
				t.Errorf("exit %d, stderr %q; want %d and a message that /dev/null is not a KVM device", r.Exit, r.Stderr, machine.ExitFailure)
			}
		})
	}
}

func TestDumpDTBFromRealVcpus(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "dump-dtb")
			if r.Exit != 0 {
				t.Fatalf("--dump-dtb exit status %d", r.Exit)
			}
			dtb := r.Files["$WORK/guest.dtb"]
			f := filepath.Join(t.TempDir(), "guest.dtb")
			if err := os.WriteFile(f, dtb, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("dtc", "-I", "dtb", "-O", "dts", f).CombinedOutput()
			if err != nil {
				t.Fatalf("dtc: %v\n%s", err, out)
			}
			dts := string(out)
			for _, want := range []string{"cpu@0 {", "cpu@1 {", "cpu@2 {", `compatible = "arm,psci-0.2"`, `compatible = "ns16550a"`} {
				if !strings.Contains(dts, want) {
					t.Errorf("the dumped device tree lacks %q", want)
				}
			}
			if gic := map[string]string{"gicv3": "arm,gic-v3", "gicv2": "arm,cortex-a15-gic"}[h]; gic != "" && !strings.Contains(dts, gic) {
				t.Errorf("the %s host's device tree lacks %q", h, gic)
			}
		})
	}
}

func TestConsoleInputReachesGuest(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "console-input")
			if !strings.Contains(r.Output(), "GUEST-ECHO hello from the host") {
				t.Errorf("the guest did not read gokvm's standard input from its console")
			}
			// The UART is where docs/machine.md says, for earlycon and the 8250
			// driver alike.
			for _, want := range []string{"GUEST-KMSG found earlycon: uart8250 at MMIO 0x0000000001000000", "GUEST-KMSG found 1000000.uart: ttyS0 at MMIO 0x1000000"} {
				if !strings.Contains(r.Output(), want) {
					t.Errorf("kernel log lacks %q", strings.TrimPrefix(want, "GUEST-KMSG found "))
				}
			}
			if r.Exit != machine.ExitPowerOff {
				t.Errorf("exit status %d", r.Exit)
			}
		})
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "sigterm")
			if r.LineMS("GOKVM-GUEST-MARKER") < 0 {
				t.Fatalf("the guest did not boot before the signal; the scenario tests nothing")
			}
			if r.Exit != machine.ExitStopped || !strings.Contains(r.Stderr, "terminated: stopping the guest") {
				t.Errorf("exit %d, stderr %q; want %d after SIGTERM", r.Exit, r.Stderr, machine.ExitStopped)
			}
			checkKvmtoolEnd(t, r.Stderr, false) // a signal kills kvmtool before it says it
			// SIGUSR1 came first: both vcpus, idle in the kernel, say where
			// they are, and the guest ran on.
			for cpu := 0; cpu < 2; cpu++ {
				if !vcpuDumpLine(cpu).MatchString(r.Stderr) {
					t.Errorf("no state of vcpu %d after SIGUSR1 in stderr %q", cpu, r.Stderr)
				}
			}
		})
	}
}

// kvmtoolEndLine is kvmtool's last line when the guest ended the session
// (powered off, reset, crashed) or Ctrl-A x did, which gokvm prints too
// (docs/kvmtool.md).
const kvmtoolEndLine = "  Info: KVM session ended normally."

// checkKvmtoolEnd checks that gokvm's stderr ends with kvmtool's last
// line, or does not have it.
func checkKvmtoolEnd(t *testing.T, stderr string, want bool) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	switch {
	case want && last != kvmtoolEndLine:
		t.Errorf("stderr does not end with kvmtool's %q:\n%s", kvmtoolEndLine, stderr)
	case !want && strings.Contains(stderr, kvmtoolEndLine):
		t.Errorf("stderr has kvmtool's %q, which kvmtool does not print here:\n%s", kvmtoolEndLine, stderr)
	}
}

// vcpuDumpLine matches a vcpu dump's line for a runnable arm64 vcpu: in
// the guest kernel (EL1, at a kernel address), or in its user space (EL0),
// where the dump finds it now and then (ci49: the e2e init at EL0 when the
// timeout came, pc=0x74744).
func vcpuDumpLine(cpu int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`gokvm: vcpu %d: runnable (pc=0xffff[0-9a-f]{12} lr=0x[0-9a-f]+ psr=0x[0-9a-f]+ \(EL1h|pc=0x[0-9a-f]+ lr=0x[0-9a-f]+ psr=0x[0-9a-f]+ \(EL0t), irqs (on|masked)\)`, cpu))
}
