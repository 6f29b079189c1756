package e2e

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, cpuScenarios)
}

// cpuScenarios: SVE, the PMU, vcpu pinning and gokvm check, on the
// emulated host's -cpu max (SVE and PMUv3, no pointer authentication).
func cpuScenarios(host string) []scenario.Scenario {
	var ss []scenario.Scenario
	if host != "gicv2" { // SVE is the CPU's, whatever the interrupt controller
		ss = append(ss,
			scenario.Scenario{Name: "sve-default", Args: bootArgs("sve,poweroff")},
			scenario.Scenario{Name: "sve-disabled", Args: bootArgs("sve,poweroff", "--disable-sve")},
			scenario.Scenario{Name: "sve-128", Args: bootArgs("sve,poweroff", "--sve-max-vl", "128")})
	}
	ss = append(ss, []scenario.Scenario{
		{Name: "pmu", Args: bootArgs("pmu,poweroff", "--pmu")},
		{Name: "no-pmu", Args: bootArgs("pmu,poweroff")},
		{Name: "check", Args: []string{"check"}},
		{Name: "check-json", Args: []string{"check", "--json"}},
		{Name: "check-no-kvm", Args: []string{"check", "--kvm-device", "/dev/null"}},
	}...)
	if host != "direct" {
		// The emulated host has two CPUs; pin both vcpus to the second.
		ss = append(ss, scenario.Scenario{Name: "affinity", Args: bootArgs("marker,sleep2,poweroff", "-c", "2", "--vcpu-affinity", "1"),
			Background: [][]string{{tool, "vcpuaffinity", "60", "2"}}, Timeout: 90 * time.Second})
	}
	return ss
}

var sveVL = regexp.MustCompile(`GUEST-SVE-VL (\d+)`)

func TestSVE(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		on := result(t, h, "sve-default")
		if !strings.Contains(on.Output(), "GUEST-SVE yes") || on.Exit != machine.ExitPowerOff {
			t.Errorf("by default the guest's /proc/cpuinfo does not list sve (exit %d)", on.Exit)
		}
		if m := sveVL.FindStringSubmatch(on.Output()); m == nil || m[1] == "16" {
			t.Errorf("by default the guest's SVE vector length is %v, want the host's (more than 16 bytes)", m)
		}
		off := result(t, h, "sve-disabled")
		if !strings.Contains(off.Output(), "GUEST-SVE no") || off.Exit != machine.ExitPowerOff {
			t.Errorf("with --disable-sve the guest still lists sve (exit %d)", off.Exit)
		}
		small := result(t, h, "sve-128")
		if m := sveVL.FindStringSubmatch(small.Output()); m == nil || m[1] != "16" {
			t.Errorf("with --sve-max-vl 128 the guest's default vector length is %v, want 16 bytes", m)
		}
	})
}

var pmuCycles = regexp.MustCompile(`GUEST-PMU-CYCLES (\d+)`)

func TestPMU(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "pmu")
			if !strings.Contains(r.Output(), "armv8_pmuv3") {
				t.Errorf("with --pmu the guest has no armv8_pmuv3 event source")
			}
			m := pmuCycles.FindStringSubmatch(r.Output())
			if n, _ := strconv.ParseUint(firstGroup(m), 10, 64); n == 0 {
				t.Errorf("with --pmu the guest counted no cycles: %v", m)
			}
			none := result(t, h, "no-pmu")
			if strings.Contains(none.Output(), "armv8_pmuv3") || !strings.Contains(none.Output(), "GUEST-PMU ") {
				t.Errorf("without --pmu the guest has a PMU, or did not look")
			}
		})
	}
}

func firstGroup(m []string) string {
	if len(m) < 2 {
		return ""
	}
	return m[1]
}

func TestVcpuAffinity(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "affinity")
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
		notes := strings.Join(r.Notes, "\n")
		for _, v := range []string{"gokvm-vcpu0", "gokvm-vcpu1"} {
			if !strings.Contains(notes, "HOST-AFFINITY "+v+" 1\n") {
				t.Errorf("%s is not pinned to CPU 1:\n%s", v, notes)
			}
			// vmm.BatchHelperThreads: the vcpus on SCHED_OTHER, every
			// other thread on SCHED_BATCH.
			if !strings.Contains(notes, "HOST-SCHED "+v+" 0\n") {
				t.Errorf("%s is not on SCHED_OTHER:\n%s", v, notes)
			}
		}
		helpers := regexp.MustCompile(`HOST-SCHED helpers (\d+) (\d+)`).FindAllStringSubmatch(notes, -1)
		if len(helpers) != 1 || helpers[0][1] != "3" {
			t.Errorf("gokvm's helper threads are not all on SCHED_BATCH (3):\n%s", notes)
		}
	})
}

func TestCheck(t *testing.T) {
	for _, h := range hosts() {
		t.Run(h, func(t *testing.T) {
			r := result(t, h, "check")
			if r.Exit != 0 || !strings.Contains(r.Output(), "an arm64 guest can boot here") {
				t.Errorf("gokvm check: exit %d\n%s", r.Exit, r.Output())
			}
			j := result(t, h, "check-json")
			var rep machine.HostReport
			if err := json.Unmarshal([]byte(j.Output()), &rep); err != nil {
				t.Fatalf("gokvm check --json: %v\n%s", err, j.Output())
			}
			if !rep.CanBoot || rep.APIVersion != 12 || rep.SVEMaxVL == 0 || rep.MaxVcpus == 0 {
				t.Errorf("gokvm check --json: %+v", rep)
			}
			switch h {
			case "gicv3":
				if !rep.GICv3 || rep.GICv2 {
					t.Errorf("on the GICv3 host: GICv3 %v GICv2 %v", rep.GICv3, rep.GICv2)
				}
				if !strings.Contains(r.Output(), "GICv3 yes, GICv2 no") {
					t.Errorf("the text report does not say GICv3:\n%s", r.Output())
				}
			case "gicv2":
				if rep.GICv3 || !rep.GICv2 {
					t.Errorf("on the GICv2 host: GICv3 %v GICv2 %v", rep.GICv3, rep.GICv2)
				}
				if !strings.Contains(r.Output(), "GICv3 no, GICv2 yes") {
					t.Errorf("the text report does not say GICv2:\n%s", r.Output())
				}
			}
			bad := result(t, h, "check-no-kvm")
			if bad.Exit != machine.ExitFailure || !strings.Contains(bad.Stderr, "/dev/null is not a KVM device") {
				t.Errorf("check --kvm-device /dev/null: exit %d, stderr %q", bad.Exit, bad.Stderr)
			}
		})
	}
}
