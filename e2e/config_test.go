package e2e

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, configScenarios)
}

// configFlags is a VM with two disks and a NIC on tap, as flags.
func configFlags(actions, tap string) []string {
	return bootArgs(actions, "-c", "2", "-d", "$WORK/a.img", "-d", "$WORK/b.img", "-n", "mode=tap,tapif="+tap)
}

// configScenarios boot from a JSON file that gokvm printed from flags
// (--print-config): the VM must be the same, down to its device tree.
func configScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		// The helper tool and taps are the emulated host's; nothing here
		// depends on the interrupt controller, so one host is enough.
		return nil
	}
	// Each scenario has a tap and a link-local subnet of its own: taps
	// outlive a scenario in the emulated host.
	actions := func(net string) string {
		return netModules + ":virtio_blk,sha:vda,write:vdb:23:2,netup:eth0:169.254." + net + ".2/24,ping:169.254." + net + ".1,poweroff"
	}
	prepare := func(tap, net string) [][]string {
		return [][]string{
			{tool, "mkrand", "$WORK/a.img", "12", "4"},
			{tool, "mksparse", "$WORK/b.img", "4"},
			{tool, "mktap", tap, "169.254." + net + ".1/24"},
			append([]string{tool, "capture", "$WORK/vm.json", "/gokvm"}, append(configFlags(actions(net), tap), "--print-config")...),
		}
	}
	return []scenario.Scenario{
		{
			Name: "config-dtb",
			Args: []string{"run", "--config", "$WORK/vm.json", "--dump-dtb", "$WORK/config.dtb"},
			Before: append(prepare("tapc0", "4"),
				append([]string{"/gokvm"}, append(configFlags(actions("4"), "tapc0"), "--dump-dtb", "$WORK/flags.dtb")...)),
			Collect: []string{"$WORK/vm.json", "$WORK/flags.dtb", "$WORK/config.dtb"},
		},
		{
			Name:   "config-boot",
			Args:   []string{"run", "--config", "$WORK/vm.json"},
			Before: prepare("tapc1", "5"),
			After:  [][]string{{tool, "sha", "$WORK/b.img"}},
		},
	}
}

// TestConfigFileSameDeviceTree: flags, --print-config, --config: the same
// VM, its device tree blob equal byte for byte.
func TestConfigFileSameDeviceTree(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "config-dtb")
		if r.Exit != machine.ExitPowerOff {
			t.Fatalf("--config --dump-dtb: exit status %d", r.Exit)
		}
		js := string(r.Files["$WORK/vm.json"])
		for _, want := range []string{`/a.img"`, `/b.img"`, `"tapif": "tapc0"`, `"cpus": 2`} {
			if !strings.Contains(js, want) {
				t.Errorf("the printed config lacks %s:\n%s", want, js)
			}
		}
		flags, cfg := r.Files["$WORK/flags.dtb"], r.Files["$WORK/config.dtb"]
		if len(flags) == 0 || !bytes.Equal(flags, cfg) {
			t.Errorf("the device tree from flags (%d bytes) and from the printed config (%d bytes) differ", len(flags), len(cfg))
		}
	})
}

// TestConfigFileBoots: the guest booted from the file has both disks and
// the NIC.
func TestConfigFileBoots(t *testing.T) {
	oneEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "config-boot")
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d, want %d", r.Exit, machine.ExitPowerOff)
		}
		if got, want := guestSHAOf(r, "vda"), pattern.SHA256(pattern.Bytes(12, 4<<20)); got != want {
			t.Errorf("the guest read vda as %q, want %q", got, want)
		}
		shas, _ := hostFacts(r)
		if got, want := shas["b.img"], pattern.SHA256(append(pattern.Bytes(23, 2<<20), make([]byte, 2<<20)...)); len(got) != 1 || got[0] != want {
			t.Errorf("b.img after the guest's write: %v, want %s", got, want)
		}
		if !strings.Contains(r.Output(), "GUEST-PING 169.254.5.1 ok") {
			t.Errorf("the guest could not ping the emulated host through the config's NIC")
		}
	})
}
