package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/vmm/smaps"
)

// PeerPath is where `make bench` and `make compat` (PEER=...) put
// kvmtool's lkvm in the emulated host.
const PeerPath = "/bin/lkvm"

// execPeer runs kvmtool in place of this process, with the HOME it keeps
// its state under (~/.lkvm): the emulated host's init has none.
func execPeer(args []string) error {
	os.MkdirAll("/tmp/peer-home", 0o700)
	env := append(os.Environ(), "HOME=/tmp/peer-home")
	return syscall.Exec(PeerPath, append([]string{"lkvm"}, args...), env)
}

// rrPeer echoes every byte of one connection on PORT back, for the
// guest's tcprr round trips.
func rrPeer(port int) error {
	l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	defer l.Close()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Minute))
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	n, err := io.Copy(c, c)
	fmt.Printf("HOST-RR echoed %d bytes err=%v\n", n, err)
	return nil
}

// rssOf waits, then prints the resident memory of the process whose name
// starts with comm (gokvm, whose main thread may have become a vcpu
// thread named gokvm-vcpuN, or lkvm) without its guest RAM: every mapping of 64 MiB or more
// is left out (guest RAM is the only one so large), so two VMMs compare
// alike. HOST-RSS COMM TOTAL-KiB ANON-KiB
func rssOf(comm string, wait time.Duration) error {
	time.Sleep(wait)
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), comm) {
			continue
		}
		total, anon, err := smapsWithoutLarge(filepath.Join(filepath.Dir(p), "smaps"), 64<<20)
		if err != nil {
			return err
		}
		fmt.Printf("HOST-RSS %s %d %d\n", comm, total, anon)
		return nil
	}
	return fmt.Errorf("no process named %s", comm)
}

// smapsWithoutLarge sums Rss and Anonymous (KiB) over the mappings of an
// smaps file smaller than limit bytes.
func smapsWithoutLarge(path string, limit uint64) (total, anon int64, _ error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return smaps.Sum(f, func(start, end uint64) bool { return end-start >= limit })
}
