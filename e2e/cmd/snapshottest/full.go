package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gokvm/gokvm/e2e/pattern"
)

// The full machine: two vcpus with SVE and a PMU, a virtio-blk disk, a
// NIC on a tap and one on the user network. It is saved through the
// control socket while the guest reads its disk, and the restored guest
// must finish that read with the right checksum, see the same SVE vector
// length and PMU, and reach the host through both NICs.
const (
	fullDiskSeed = 95
	fullDiskMiB  = 64
	// FullTap is the emulated host's tap (made by the scenario, at
	// FullHostIP) and the guest's address on it.
	FullTap      = "tapsnap"
	FullHostIP   = "169.254.9.1"
	fullGuestIP  = "169.254.9.2/24"
	FullPeerPort = "5111" // the scenario's userpeer on 127.0.0.1
	FullPeerSeed = "66"
	fullUpSeed   = "67"
	FullMiB      = "4"
	// A vhost-net NIC on a second tap, and a vhost-vsock device whose
	// host peer (the scenario's vsockpeer) sends FullVsockSeed's pattern.
	FullVhostTap    = "tapsnapv"
	FullVhostHostIP = "169.254.10.1"
	fullVhostIP     = "169.254.10.2/24"
	FullCID         = "44"
	FullVsockSeed   = "68"
	fullVsockUp     = "69"
)

var (
	sveVL = regexp.MustCompile(`GUEST-SVE-VL (\S+)`)
	pmu   = regexp.MustCompile(`GUEST-PMU-CYCLES (\d+)`)
	shaRe = regexp.MustCompile(`GUEST-SHA vda ([0-9a-f]{64}) (\d+)`)
)

// full runs the full machine's save and restore (snapshottest full GOKVM
// KERNEL INITRD WORK).
func full(gokvm, kernel, initrd, work string) {
	disk := filepath.Join(work, "full.disk")
	if err := os.WriteFile(disk, pattern.Bytes(fullDiskSeed, fullDiskMiB<<20), 0o644); err != nil {
		log.Fatal(err)
	}
	state := filepath.Join(work, "full.state")
	actions := strings.Join([]string{
		"marker", "modules", "modules:virtio_mmio:failover:net_failover:virtio_net:vsock:vmw_vsock_virtio_transport_common:vmw_vsock_virtio_transport",
		"cpus", "sve", "pmu",
		"netup:eth0:" + fullGuestIP, "dhcp:eth1", "netup:eth2:" + fullVhostIP,
		"ping:" + FullHostIP, "ping:" + FullVhostHostIP,
		"say:reading", "sha:vda",
		"sve", "pmu", "ping:" + FullHostIP, "ping:" + FullVhostHostIP,
		"tcpxchg:10.0.2.2:" + FullPeerPort + ":" + fullUpSeed + ":" + FullMiB,
		"vsocksend:2:5101:" + fullVsockUp + ":1", "vsockrecv:5102",
		"poweroff",
	}, ",")
	cmd := exec.Command(gokvm, "run", "--name", "snapfull", "-k", kernel, "-i", initrd, "-c", "2", "-m", "512", "--pmu",
		"-d", disk+",ro", "-n", "mode=tap,tapif="+FullTap, "-n", "mode=user",
		"-n", "mode=tap,tapif="+FullVhostTap+",vhost=on", "--vsock", FullCID, "--timeout", "200s",
		"-p", "console=ttyS0 quiet panic=-1 gokvm.do="+actions)
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	cmd.Stderr = os.Stdout
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	var before strings.Builder
	sc := bufio.NewScanner(out)
	saved := false
	for sc.Scan() {
		fmt.Println(sc.Text())
		before.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "GUEST-SAY reading") {
			snapOut, status := run(gokvm, "snapshot", "snapfull", state, "--stop")
			saved = status == 0
			check(saved, "the full machine was saved while its guest read its disk (status %d: %s)", status, lastLine(snapOut))
			break
		}
	}
	for sc.Scan() {
		fmt.Println(sc.Text())
		before.WriteString(sc.Text() + "\n")
	}
	cmd.Wait()
	if !saved {
		check(false, "the full machine's guest never began to read its disk (status %d)", cmd.ProcessState.ExitCode())
		return
	}
	b := before.String()
	check(strings.Contains(b, "GUEST-CPUS-ONLINE 0-1"), "the full machine's guest had 2 vcpus")
	check(strings.Contains(b, "GUEST-PING "+FullHostIP+" ok"), "the full machine's guest reached the host over its tap before the save")
	check(strings.Contains(b, "GUEST-PING "+FullVhostHostIP+" ok"), "the full machine's guest reached the host over its vhost-net NIC before the save")
	check(!shaRe.MatchString(b), "the saved guest had not finished reading its disk")
	vlBefore := sveVL.FindStringSubmatch(b)
	check(vlBefore != nil, "the full machine's guest has SVE")
	check(pmu.MatchString(b), "the full machine's guest counts cycles with its PMU")

	restored, status := run(gokvm, "run", "--restore", state, "--timeout", "150s", "--stats")
	if m := firstRun.FindStringSubmatch(restored); m != nil {
		fmt.Printf("SNAPSHOTTEST figure: the full machine's first KVM_RUN came %s ms after gokvm started\n", m[1])
	}
	check(status == 0, "the restored full machine powered off with status 0 (status %d)", status)
	want := pattern.SHA256(pattern.Bytes(fullDiskSeed, fullDiskMiB<<20))
	m := shaRe.FindStringSubmatch(restored)
	check(m != nil && m[1] == want && m[2] == fmt.Sprint(fullDiskMiB<<20),
		"the read in flight at the save completed after the restore with the right checksum (%v, want %s)", m, want[:12])
	vlAfter := sveVL.FindStringSubmatch(restored)
	check(vlBefore != nil && vlAfter != nil && vlAfter[1] == vlBefore[1], "SVE has the same vector length after the restore (%v, before %v)", vlAfter, vlBefore)
	check(pmu.MatchString(restored), "the PMU counts cycles after the restore")
	check(strings.Contains(restored, "GUEST-PING "+FullHostIP+" ok"), "the tap NIC reaches the host after the restore")
	check(strings.Contains(restored, "GUEST-PING "+FullVhostHostIP+" ok"), "the vhost-net NIC reaches the host after the restore (rings restored in the host kernel)")
	var vseed uint64
	fmt.Sscan(FullVsockSeed, &vseed)
	vdown := pattern.SHA256(pattern.Bytes(vseed, 1<<20))
	check(strings.Contains(restored, "GUEST-VSOCK-SENT ") && strings.Contains(restored, fmt.Sprintf("GUEST-VSOCK-RECV %s %d ", vdown, 1<<20)),
		"vhost-vsock with CID %s carries new connections both ways after the restore", FullCID)
	var seed uint64
	var n int
	fmt.Sscan(FullPeerSeed, &seed)
	fmt.Sscan(FullMiB, &n)
	down := pattern.SHA256(pattern.Bytes(seed, n<<20))
	check(strings.Contains(restored, fmt.Sprintf("GUEST-UX-RECV %s %d ", down, n<<20)),
		"the user-network NIC exchanged %s MiB each way with a host server after the restore", FullMiB)
}
