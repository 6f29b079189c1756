package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// PeerPath is where `make bench PEER=...` puts kvmtool's lkvm in the
// emulated host.
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
