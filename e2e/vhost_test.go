package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

// The vhost back-ends run in the emulated host's kernel (hostinit loads
// vhost_net and vhost_vsock). One boot covers vhost-net (the net
// scenario's ping, MAC and 16 MiB each way, on two vhost NICs) and
// vhost-vsock (16 MiB each way between the guest and the emulated host);
// the vhost packages' tests that need /dev/vhost-* (rings set up, paused,
// resumed and reset on the real kernel; a CID in use; a hostile event
// queue) run there as programs. Neither depends on the GIC: GICv3 host
// only.

func init() {
	extraPrepare = append(extraPrepare, buildVhostTests)
	extraScenarios = append(extraScenarios, vhostScenarios)
}

// vhostCID is the guest's vsock CID in the vhost scenario.
const vhostCID = "42"

func buildVhostTests(b *harness.Build) error {
	for pkg, out := range map[string]string{"./devices/virtio/vhost": "vhost.test", "./devices/virtio/vsock": "vsock.test"} {
		if err := b.AddTestBinary(pkg, out); err != nil {
			return err
		}
	}
	return nil
}

func vhostScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		return nil
	}
	actions := strings.Join([]string{
		netModules + ":vsock:vmw_vsock_virtio_transport_common:vmw_vsock_virtio_transport",
		"netup:eth0:169.254.21.2/24", "netup:eth1:169.254.22.2/24",
		"ping:169.254.21.1", "ping:169.254.22.1",
		"mac:eth1",
		"tcpsend:169.254.21.1:5001:77:16", "tcprecv:169.254.22.1:5002",
		"vsocksend:2:5101:99:16", "vsockrecv:5102",
		"poweroff",
	}, ",")
	return []scenario.Scenario{
		{
			Name: "vhost",
			Args: bootArgs(actions, "-m", "512", "--stats",
				"-n", "mode=tap,tapif=vtap0,vhost=1",
				"-n", "mode=tap,tapif=vtap1,guest_mac=52:54:00:00:00:12,vhost=on",
				"--vsock", vhostCID),
			Before: [][]string{
				{tool, "mktap", "vtap0", "169.254.21.1/24"},
				{tool, "mktap", "vtap1", "169.254.22.1/24"},
			},
			Background: [][]string{
				{tool, "netpeer", "88", "16"},
				{tool, "vsockpeer", vhostCID, "55", "16"},
			},
			Timeout: 4 * time.Minute,
		},
		{
			Name:    "vhost-kernel-tests",
			Program: "$GUEST/vhost.test",
			Args:    []string{"-test.v", "-test.run", "Kernel", "-test.timeout", "60s"},
			Timeout: 90 * time.Second,
		},
		{
			Name:    "vsock-kernel-tests",
			Program: "$GUEST/vsock.test",
			Args:    []string{"-test.v", "-test.run", "CIDInUse|HostileEventQueue", "-test.timeout", "60s"},
			Timeout: 90 * time.Second,
		},
	}
}

// vhostResult is the vhost scenario's result; the tests run where the
// emulated host's tools and vhost modules are.
func vhostResult(t *testing.T, h, name string) scenario.Result {
	t.Helper()
	if harness.Direct() {
		t.Skipf("the vhost scenarios need the emulated host's vhost modules and tools")
	}
	return result(t, h, name)
}

func TestVhostNetPing(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := vhostResult(t, h, "vhost")
		for _, ip := range []string{"169.254.21.1", "169.254.22.1"} {
			if !strings.Contains(r.Output(), "GUEST-PING "+ip+" ok") {
				t.Errorf("the guest could not ping the emulated host at %s over vhost-net", ip)
			}
		}
		if !strings.Contains(r.Output(), "GUEST-MAC eth1 52:54:00:00:00:12") {
			t.Errorf("the second vhost NIC does not have the guest_mac given")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
		// vhost-net moves the frames: gokvm sees none of them.
		if !strings.Contains(r.Stderr, "nic0: vhost-net") || !strings.Contains(r.Stderr, "nic1: vhost-net") {
			t.Errorf("--stats does not say both NICs were vhost-net: %q", r.Stderr)
		}
	})
}

func TestVhostNetTCPBothWays(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := vhostResult(t, h, "vhost")
		want := pattern.SHA256(pattern.Bytes(77, 16<<20))
		m := hostRecv.FindStringSubmatch(strings.Join(r.Notes, "\n"))
		if m == nil || m[1] != want || m[2] != "16777216" {
			t.Errorf("guest to host: the host received %v, want 16 MiB with SHA-256 %s", m, want)
		}
		want = pattern.SHA256(pattern.Bytes(88, 16<<20))
		g := guestRecv.FindStringSubmatch(r.Output())
		if g == nil || g[1] != want || g[2] != "16777216" {
			t.Errorf("host to guest: the guest received %v, want 16 MiB with SHA-256 %s", g, want)
		}
		t.Logf("%s; %s", firstLine(r.Output(), "GUEST-SENT"), firstLine(r.Output(), "GUEST-RECV"))
	})
}

func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, prefix) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

var kernelTestVerdict = regexp.MustCompile(`(?m)^--- (PASS|FAIL|SKIP): (Test\w+)`)

// TestVhostKernelTests: the unit tests that need /dev/vhost-net and
// /dev/vhost-vsock ran and passed on the emulated host's kernel; none
// skipped.
func TestVhostKernelTests(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		for name, tests := range map[string][]string{
			"vhost-kernel-tests": {"TestRingsKernel", "TestRingsKernelLegacy"},
			"vsock-kernel-tests": {"TestCIDInUse", "TestHostileEventQueue"},
		} {
			r := vhostResult(t, h, name)
			verdicts := map[string]string{}
			for _, m := range kernelTestVerdict.FindAllStringSubmatch(r.Output(), -1) {
				verdicts[m[2]] = m[1]
			}
			for _, test := range tests {
				if verdicts[test] != "PASS" {
					t.Errorf("%s: %s %q, want PASS", name, test, verdicts[test])
				}
			}
			if r.Exit != 0 {
				t.Errorf("%s: exit status %d", name, r.Exit)
			}
		}
	})
}
