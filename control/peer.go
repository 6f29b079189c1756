package control

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// The state directory's mode keeps other users away from a control
// socket, but a directory that was loose (or made loose later), a socket
// passed on, or a look-alike socket put in the client's way must not be
// enough to control a VM or feed a client lies: both ends also check the
// other's uid from the kernel (SO_PEERCRED), which cannot be forged.

// peerCred is the credentials of the process at the other end of c: the
// client that connected (server side), or the server that listened
// (client side).
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("the peer's credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("the peer's credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("the peer's credentials (SO_PEERCRED): %w", cerr)
	}
	return cred, nil
}

// errForeignPeer is the refusal of a peer of another user.
var errForeignPeer = errors.New("another user's process")

// checkPeerUID lets a peer in when it runs as own (the user whose VM it
// is) or as root, who can reach the socket anyway.
func checkPeerUID(peer, own uint32) error {
	if peer == own || peer == 0 {
		return nil
	}
	return fmt.Errorf("%w: uid %d is neither this user's (%d) nor root", errForeignPeer, peer, own)
}

// peerName names a client by its process, for "in use by" and info.
func peerName(cred *unix.Ucred) string {
	if cred == nil {
		return "a client"
	}
	return fmt.Sprintf("pid %d", cred.Pid)
}
