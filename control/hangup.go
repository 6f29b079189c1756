package control

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// hangupPoll is how often a console's input, while it waits for a guest
// that does not take it, asks whether its client has gone. A guest that
// reads its console takes a chunk long before.
const hangupPoll = 100 * time.Millisecond

// clientLeft reports whether the client has closed its connection or
// shut its sending side. It reads nothing: while the guest takes no
// input, what the client sent before leaving is still queued ahead of
// the end of the stream, and a read would have to take it first and
// hold it. The kernel says so at once (POLLRDHUP, POLLHUP), data queued
// or not.
func clientLeft(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return true // closed here already
	}
	left := false
	if err := rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(p, 0)
		left = err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
	}); err != nil {
		return true
	}
	return left
}
