package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/e2e/pattern"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/machine"
)

func init() {
	extraScenarios = append(extraScenarios, userNetScenarios)
}

// Ports of the user-mode network scenario: the host's peer the guest
// reaches through the gateway, and a hostfwd into the guest's server.
const (
	userPeerPort  = "5101"
	fwdHostPort   = "6022"
	fwdGuestPort  = "7022"
	unprivileged  = 65534 // nobody
	userNetMiB    = "16"
	seedGuestUp   = 61 // guest -> host through 10.0.2.2
	seedHostDown  = 62 // host -> guest on that connection
	seedFwdIn     = 63 // host -> guest through the hostfwd
	seedFwdOut    = 64 // guest -> host on that connection
	userNetLeased = "GUEST-DHCP eth0 lease 10.0.2.15/24 router 10.0.2.2 dns 10.0.2.3 server 10.0.2.2"
)

// userNetScenarios: gokvm as nobody (no capabilities, no tap) with -n
// mode=user; the guest leases its address by DHCP, exchanges 16 MiB each
// way with a server on the host's 127.0.0.1 through 10.0.2.2, and serves
// 16 MiB each way to a host client through a hostfwd. One host kind: the
// GIC plays no part.
func userNetScenarios(host string) []scenario.Scenario {
	if host != "gicv3" {
		return nil
	}
	actions := strings.Join([]string{
		netModules,
		"dhcp:eth0",
		"tcpxchg:10.0.2.2:" + userPeerPort + ":61:" + userNetMiB,
		"tcpserve:" + fwdGuestPort + ":64:" + userNetMiB,
		"poweroff",
	}, ",")
	return []scenario.Scenario{{
		Name: "usernet",
		UID:  unprivileged,
		Args: bootArgs(actions, "-m", "512", "--stats",
			"-n", "mode=user,hostfwd=tcp:127.0.0.1:"+fwdHostPort+"-:"+fwdGuestPort+",hostfwd=udp::6053-:53"),
		Before: [][]string{
			{tool, "chmod", "0666", "/dev/kvm"},
			{tool, "chmod", "0777", "$WORK"},
			{tool, "loup", "-"},
		},
		Background: [][]string{
			{tool, "userpeer", userPeerPort, "62", userNetMiB},
			{tool, "fwdpeer", fwdHostPort, "63", userNetMiB},
		},
		Timeout: 300e9,
	}}
}

var (
	uxSent  = regexp.MustCompile(`GUEST-UX-SENT ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s`)
	uxRecv  = regexp.MustCompile(`GUEST-UX-RECV ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s`)
	srvRecv = regexp.MustCompile(`GUEST-SRV-RECV ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s from (\S+)`)
	srvSent = regexp.MustCompile(`GUEST-SRV-SENT ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s`)
	upRecv  = regexp.MustCompile(`HOST-UPEER-RECV ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s err=<nil>`)
	upFrom  = regexp.MustCompile(`HOST-UPEER-FROM (\S+)`)
	fwdRecv = regexp.MustCompile(`HOST-FWD-RECV ([0-9a-f]{64}) (\d+) ([0-9.]+) MB/s err=<nil>`)
)

func userNetResult(t *testing.T, h string) scenario.Result {
	r := result(t, h, "usernet")
	if !strings.Contains(r.Output(), userNetLeased) {
		t.Fatalf("the guest leased no 10.0.2.15 from 10.0.2.2 by DHCP (%q); exit %d\nstderr: %s\nnotes: %s",
			lineWith(r.Output(), "GUEST-DHCP"), r.Exit, r.Stderr, strings.Join(r.Notes, "\n"))
	}
	return r
}

// checkTransfer: m (sha, bytes, MB/s) carried 16 MiB of seed's pattern.
func checkTransfer(t *testing.T, what string, m []string, seed uint64) {
	t.Helper()
	want := pattern.SHA256(pattern.Bytes(seed, 16<<20))
	if m == nil || m[1] != want || m[2] != "16777216" {
		t.Errorf("%s: got %v, want 16 MiB with SHA-256 %s", what, m, want)
		return
	}
	t.Logf("%s: %s MB/s", what, m[3])
}

// TestUserNetDHCP: an unprivileged gokvm's guest leases QEMU's addresses
// from the user-mode network's DHCP server, and powers off cleanly (the
// seccomp filter allowed every socket call).
func TestUserNetDHCP(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := userNetResult(t, h)
		if r.Exit != machine.ExitPowerOff {
			t.Errorf("exit status %d; stderr %s", r.Exit, r.Stderr)
		}
	})
}

// TestUserNetToHostLoopback: the guest's connection to 10.0.2.2:PORT
// reaches the host's 127.0.0.1:PORT; 16 MiB cross each way intact.
func TestUserNetToHostLoopback(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := userNetResult(t, h)
		notes := strings.Join(r.Notes, "\n")
		if m := upFrom.FindStringSubmatch(notes); m == nil || !strings.HasPrefix(m[1], "127.0.0.1:") {
			t.Errorf("the host's peer saw the connection from %v, want the host's own 127.0.0.1", m)
		}
		checkTransfer(t, "guest to host via 10.0.2.2 (host received)", upRecv.FindStringSubmatch(notes), seedGuestUp)
		checkTransfer(t, "guest to host via 10.0.2.2 (guest sent)", uxSent.FindStringSubmatch(r.Output()), seedGuestUp)
		checkTransfer(t, "host to guest via 10.0.2.2 (guest received)", uxRecv.FindStringSubmatch(r.Output()), seedHostDown)
	})
}

// TestUserNetHostFwd: a host client's connection to 127.0.0.1:HOSTPORT
// reaches the guest's server on GUESTPORT, from the gateway's address;
// 16 MiB cross each way intact.
func TestUserNetHostFwd(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := userNetResult(t, h)
		m := srvRecv.FindStringSubmatch(r.Output())
		checkTransfer(t, "host to guest via hostfwd (guest received)", m, seedFwdIn)
		if m != nil && !strings.HasPrefix(m[4], "10.0.2.2:") {
			t.Errorf("the guest's server saw the connection from %s, want the gateway 10.0.2.2", m[4])
		}
		checkTransfer(t, "guest to host via hostfwd (host received)", fwdRecv.FindStringSubmatch(strings.Join(r.Notes, "\n")), seedFwdOut)
		checkTransfer(t, "guest to host via hostfwd (guest sent)", srvSent.FindStringSubmatch(r.Output()), seedFwdOut)
	})
}
