package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/gokvm/gokvm/e2e/netcfg"
	"github.com/gokvm/gokvm/e2e/pattern"
)

// userNetTool serves the user-mode network scenarios:
//
//	chmod MODE PATH...           set each path's mode (octal): /dev/kvm
//	                             for an unprivileged gokvm
//	loup                         bring up the loopback interface (the
//	                             emulated host's init leaves it down)
//	userpeer PORT SEED MiB       on 127.0.0.1:PORT, take one connection:
//	                             read to EOF (HOST-UPEER-RECV), then send
//	                             the pattern and close (HOST-UPEER-SENT)
//	fwdpeer PORT SEED MiB        connect to 127.0.0.1:PORT (a hostfwd)
//	                             until the guest answers with a byte, send
//	                             the pattern and half-close
//	                             (HOST-FWD-SENT), read to EOF
//	                             (HOST-FWD-RECV)
func userNetTool(args []string) error {
	num := func(i int) uint64 {
		v, _ := strconv.ParseUint(args[i], 10, 64)
		return v
	}
	switch args[0] {
	case "chmod":
		mode, err := strconv.ParseUint(args[1], 8, 32)
		if err != nil {
			return err
		}
		for _, p := range args[2:] {
			if err := os.Chmod(p, os.FileMode(mode)); err != nil {
				return err
			}
		}
		return nil
	case "loup":
		return netcfg.Up("lo", "127.0.0.1/8")
	case "userpeer":
		return userPeer(int(num(1)), num(2), int(num(3)))
	case "fwdpeer":
		return fwdPeer(int(num(1)), num(2), int(num(3)))
	}
	return fmt.Errorf("unknown tool")
}

func mbps(n int, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func userPeer(port int, seed uint64, mb int) error {
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer l.Close()
	deadline := time.Now().Add(4 * time.Minute)
	l.(*net.TCPListener).SetDeadline(deadline)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	fmt.Printf("HOST-UPEER-FROM %s\n", c.RemoteAddr())
	start := time.Now()
	b, err := io.ReadAll(c)
	fmt.Printf("HOST-UPEER-RECV %s %d %.2f MB/s err=%v\n", pattern.SHA256(b), len(b), mbps(len(b), time.Since(start)), err)
	data := pattern.Bytes(seed, mb<<20)
	start = time.Now()
	_, err = c.Write(data)
	fmt.Printf("HOST-UPEER-SENT %s %d %.2f MB/s err=%v\n", pattern.SHA256(data), len(data), mbps(len(data), time.Since(start)), err)
	return nil
}

func fwdPeer(port int, seed uint64, mb int) error {
	deadline := time.Now().Add(4 * time.Minute)
	var c net.Conn
	tries := 0
	for {
		tries++
		var err error
		c, err = net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err == nil {
			// The forward accepts before the guest listens; the
			// guest's server greets with one byte.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err = c.Read(make([]byte, 1)); err == nil {
				break
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no guest answered on %d after %d tries: %v", port, tries, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	fmt.Printf("HOST-FWD-CONNECTED after %d tries\n", tries)
	data := pattern.Bytes(seed, mb<<20)
	start := time.Now()
	_, err := c.Write(data)
	if err == nil {
		err = c.(*net.TCPConn).CloseWrite()
	}
	fmt.Printf("HOST-FWD-SENT %s %d %.2f MB/s err=%v\n", pattern.SHA256(data), len(data), mbps(len(data), time.Since(start)), err)
	start = time.Now()
	b, err := io.ReadAll(c)
	fmt.Printf("HOST-FWD-RECV %s %d %.2f MB/s err=%v\n", pattern.SHA256(b), len(b), mbps(len(b), time.Since(start)), err)
	return nil
}
