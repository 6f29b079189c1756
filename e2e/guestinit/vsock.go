package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/e2e/pattern"
)

// vsock actions:
//
//	vsocksend:CID:PORT:SEED:MiB  connect to CID:PORT (2: the host), send the
//	                             pattern, print its SHA-256
//	vsockrecv:PORT               listen on PORT, accept one connection,
//	                             receive until EOF, print the SHA-256
func vsockAction(f []string) error {
	num := func(i int) uint64 {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseUint(f[i], 10, 64)
		return v
	}
	switch f[0] {
	case "vsocksend":
		s, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_VSOCK socket: %w", err)
		}
		c := os.NewFile(uintptr(s), "vsock")
		defer c.Close()
		// Longer than AF_VSOCK's 2 s: the host peer runs on a slow,
		// emulated host.
		tv := unix.Timeval{Sec: 60}
		if err := unix.SetsockoptTimeval(s, unix.AF_VSOCK, unix.SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv); err != nil {
			return fmt.Errorf("AF_VSOCK connect timeout: %w", err)
		}
		if err := unix.Connect(s, &unix.SockaddrVM{CID: uint32(num(1)), Port: uint32(num(2))}); err != nil {
			return fmt.Errorf("connecting to %s:%s: %w", f[1], f[2], err)
		}
		data := pattern.Bytes(num(3), int(num(4))<<20)
		start := time.Now()
		if _, err := c.Write(data); err != nil {
			return err
		}
		fmt.Printf("GUEST-VSOCK-SENT %s %d %.1f MB/s\n", pattern.SHA256(data), len(data), float64(len(data))/1e6/time.Since(start).Seconds())
	case "vsockrecv":
		l, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_VSOCK socket: %w", err)
		}
		defer unix.Close(l)
		if err := unix.Bind(l, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: uint32(num(1))}); err != nil {
			return fmt.Errorf("bind port %s: %w", f[1], err)
		}
		if err := unix.Listen(l, 1); err != nil {
			return err
		}
		fmt.Printf("GUEST-VSOCK-LISTEN %s\n", f[1])
		s, _, err := unix.Accept(l)
		if err != nil {
			return err
		}
		c := os.NewFile(uintptr(s), "vsock")
		defer c.Close()
		start := time.Now()
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-VSOCK-RECV %s %d %.1f MB/s\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds())
	default:
		return fmt.Errorf("unknown action %q", strings.Join(f, ":"))
	}
	return nil
}
