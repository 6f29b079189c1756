package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, aarch32Scenarios)
}

// boot32Args is a gokvm run of Debian's armhf zImage with the armhf init.
func boot32Args(actions string, extra ...string) []string {
	args := []string{"run", "--aarch32", "-k", "$GUEST/zImage", "-i", "$GUEST/initrd32.cpio", "-p", guestParams(actions)}
	return append(args, extra...)
}

func aarch32Scenarios(host string) []scenario.Scenario {
	ss := []scenario.Scenario{
		{Name: "a32-1cpu", Args: boot32Args("marker,uname,cpus,poweroff", "-c", "1")},
		{Name: "a32-2cpu", Args: boot32Args("marker,uname,cpus,poweroff", "-c", "2")},
		// A guest left idle until --timeout, so the vcpu dump shows
		// 32-bit vcpus in the kernel.
		{Name: "a32-timeout", Args: boot32Args("marker,hang", "-c", "2", "--timeout", "30s")},
	}
	if host != "direct" {
		ss = append(ss, scenario.Scenario{
			Name:   "a32-blk",
			Args:   boot32Args("modules,sha:vda,poweroff", "-d", "$WORK/a.img"),
			Before: [][]string{{tool, "mkrand", "$WORK/a.img", "99", "4"}},
		})
	}
	return ss
}

func TestAArch32Boots(t *testing.T) {
	for _, h := range hosts() {
		for _, tc := range []struct{ name, cpus string }{{"a32-1cpu", "0"}, {"a32-2cpu", "0-1"}} {
			t.Run(h+"/"+tc.name, func(t *testing.T) {
				r := result(t, h, tc.name)
				if !strings.Contains(r.Output(), "GUEST-UNAME armv7l") {
					t.Errorf("uname -m in the guest is not armv7l")
				}
				if !strings.Contains(r.Output(), "GUEST-CPUS-ONLINE "+tc.cpus+" ") {
					t.Errorf("the guest does not see CPUs %s online", tc.cpus)
				}
				if r.Exit != machine.ExitPowerOff {
					t.Errorf("exit status %d, want 0", r.Exit)
				}
			})
		}
	}
}

func TestAArch32Disk(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "a32-blk")
		if got, want := guestSHAOf(r, "vda"), pattern.SHA256(pattern.Bytes(99, 4<<20)); got != want {
			t.Errorf("the 32-bit guest read vda as %q, the host wrote %q", got, want)
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

func TestAArch32VcpuDump(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "a32-timeout")
			if r.LineMS("GOKVM-GUEST-MARKER") < 0 {
				t.Fatalf("the guest did not reach its init before the timeout; the dump would not show the kernel")
			}
			if r.Exit != machine.ExitTimeout {
				t.Errorf("exit status %d, want %d", r.Exit, machine.ExitTimeout)
			}
			// Idle in the kernel's lowmem mapping (0xc0000000 up), in SVC
			// mode, with lr_svc read from its bank.
			for cpu := 0; cpu < 2; cpu++ {
				re := regexp.MustCompile(fmt.Sprintf(`gokvm: vcpu %d: runnable pc=0xc[0-9a-f]{7} lr=0x[0-9a-f]+ psr=0x[0-9a-f]+ \(svc, irqs (on|masked)\)`, cpu))
				if !re.MatchString(r.Stderr) {
					t.Errorf("no 32-bit state of vcpu %d in stderr %q", cpu, r.Stderr)
				}
			}
		})
	}
}
