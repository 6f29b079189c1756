package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, netScenarios)
}

const netModules = "modules:virtio_mmio:failover:net_failover:virtio_net"

// Link-local addresses keep test traffic between the emulated host's taps
// and the guest; the emulated host has no route anywhere else.
func netScenarios(host string) []scenario.Scenario {
	if host == "direct" {
		return nil // needs the emulated host's helper tool and its own taps
	}
	actions := strings.Join([]string{
		netModules,
		"netup:eth0:169.254.1.2/24", "netup:eth1:169.254.2.2/24",
		"ping:169.254.1.1", "ping:169.254.2.1",
		"mac:eth1",
		"tcpsend:169.254.1.1:5001:77:16", "tcprecv:169.254.2.1:5002",
		"poweroff",
	}, ",")
	return []scenario.Scenario{
		{
			Name: "net",
			Args: bootArgs(actions, "-m", "512", "--stats",
				"-n", "mode=tap,tapif=tap0", "-n", "mode=tap,tapif=tap1,guest_mac=52:54:00:00:00:02"),
			Before: [][]string{
				{tool, "mktap", "tap0", "169.254.1.1/24"},
				{tool, "mktap", "tap1", "169.254.2.1/24"},
			},
			Background: [][]string{{tool, "netpeer", "88", "16"}},
		},
		{
			Name:   "net-create",
			Args:   bootArgs(netModules+",netup:eth0:169.254.3.2/24,poweroff", "-n", "mode=tap,tapif=gkcreated"),
			Before: [][]string{{tool, "ifexists", "gkcreated"}},
			After:  [][]string{{tool, "ifexists", "gkcreated"}},
		},
		{Name: "net-not-a-tap", Args: bootArgs("poweroff", "-n", "mode=tap,tapif=lo")},
	}
}

var (
	hostRecv  = regexp.MustCompile(`HOST-RECV ([0-9a-f]{64}) (\d+)`)
	guestRecv = regexp.MustCompile(`GUEST-RECV ([0-9a-f]{64}) (\d+)`)
)

func TestNetPing(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "net")
		for _, ip := range []string{"169.254.1.1", "169.254.2.1"} {
			if !strings.Contains(r.Output(), "GUEST-PING "+ip+" ok") {
				t.Errorf("the guest could not ping the emulated host at %s", ip)
			}
		}
		if !strings.Contains(r.Output(), "GUEST-MAC eth1 52:54:00:00:00:02") {
			t.Errorf("the second NIC does not have the guest_mac given")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

func TestNetTCPBothWays(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "net")
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
	})
}

func TestNetCreatedTapIsRemoved(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "net-create")
		notes := strings.Join(r.Notes, "\n")
		if strings.Count(notes, "HOST-IF gkcreated absent") != 2 {
			t.Errorf("gkcreated must be absent before and after the run:\n%s", notes)
		}
		if !strings.Contains(r.Output(), "GUEST-NETUP eth0") {
			t.Errorf("the guest's NIC on the created tap never came up")
		}
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d", r.Exit)
		}
	})
}

func TestNetNotATap(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "net-not-a-tap")
		if r.Exit != machine.ExitUsage || !strings.Contains(r.Stderr, "lo exists and is not a tap") {
			t.Errorf("exit %d, stderr %q; want %d and a message that lo is not a tap", r.Exit, r.Stderr, machine.ExitUsage)
		}
	})
}

var nicStats = regexp.MustCompile(`nic(\d): tx (\d+) frames (\d+) bytes \((\d+) dropped, largest (\d+)\), rx (\d+) frames (\d+) bytes \((\d+) dropped, largest (\d+)\)`)

// TestNetLargeSegments: with TSO negotiated both ways, frames far above the
// 1500-byte MTU (GSO segments of up to 64 KiB) cross the device in each
// direction; without offloads none could exceed 1514 bytes.
func TestNetLargeSegments(t *testing.T) {
	eachEmulated(t, func(t *testing.T, h string) {
		r := result(t, h, "net")
		stats := map[string][]string{}
		for _, m := range nicStats.FindAllStringSubmatch(r.Stderr, -1) {
			stats[m[1]] = m
		}
		if len(stats) != 2 {
			t.Fatalf("--stats printed no figures for both NICs: %q", r.Stderr)
		}
		t.Logf("%s\n%s", stats["0"][0], stats["1"][0])
		num := func(s string) int { v, _ := strconv.Atoi(s); return v }
		// nic0 carried the guest's send, nic1 the host's.
		if l := num(stats["0"][5]); l < 16<<10 {
			t.Errorf("guest to host: the largest frame was %d bytes; TSO is not in use", l)
		}
		if l := num(stats["1"][9]); l < 16<<10 {
			t.Errorf("host to guest: the largest frame was %d bytes; the guest does not get large segments", l)
		}
		if stats["0"][4] != "0" || stats["1"][8] != "0" {
			t.Errorf("frames dropped: %s; %s", stats["0"][0], stats["1"][0])
		}
	})
}
