package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/netcfg"
	"github.com/gokvm/gokvm/e2e/pattern"
)

// Network actions:
//
//	netup:IF:CIDR               wait for IF, give it CIDR, wait for its link
//	ping:IP                     ICMP echo, up to 5 tries
//	tcpsend:IP:PORT:SEED:MiB    send the pattern, print its SHA-256
//	tcprecv:IP:PORT             receive until EOF, print the SHA-256
//	mac:IF                      print the interface's MAC
func netAction(f []string) error {
	switch f[0] {
	case "netup":
		if err := netcfg.WaitInterface(f[1], 5*time.Second); err != nil {
			return err
		}
		if err := netcfg.Up(f[1], f[2]); err != nil {
			return err
		}
		if err := netcfg.WaitCarrier(f[1], 5*time.Second); err != nil {
			return err
		}
		fmt.Printf("GUEST-NETUP %s %s\n", f[1], f[2])
	case "ping":
		rtt, err := ping(f[1])
		if err != nil {
			fmt.Printf("GUEST-PING %s failed %v\n", f[1], err)
			return nil
		}
		fmt.Printf("GUEST-PING %s ok %v\n", f[1], rtt.Round(time.Microsecond))
	case "tcpsend":
		seed, _ := strconv.ParseUint(f[3], 10, 64)
		mb, _ := strconv.Atoi(f[4])
		c, err := dial(f[1] + ":" + f[2])
		if err != nil {
			return err
		}
		data := pattern.Bytes(seed, mb<<20)
		start := time.Now()
		_, err = c.Write(data)
		c.Close()
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-SENT %s %d %.1f MB/s\n", pattern.SHA256(data), len(data), float64(len(data))/1e6/time.Since(start).Seconds())
	case "tcprecv":
		c, err := dial(f[1] + ":" + f[2])
		if err != nil {
			return err
		}
		defer c.Close()
		start := time.Now()
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-RECV %s %d %.1f MB/s\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds())
	case "mac":
		i, err := net.InterfaceByName(f[1])
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-MAC %s %s\n", f[1], i.HardwareAddr)
	default:
		return fmt.Errorf("unknown action %q", strings.Join(f, ":"))
	}
	return nil
}

// dial retries while the peer may still be starting.
func dial(addr string) (net.Conn, error) {
	var err error
	for i := 0; i < 50; i++ {
		var c net.Conn
		if c, err = net.DialTimeout("tcp4", addr, 2*time.Second); err == nil {
			return c, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// ping sends ICMP echo requests over a raw socket until one is answered.
func ping(addr string) (time.Duration, error) {
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.ParseIP(addr)}
	var lastErr error
	for seq := 1; seq <= 5; seq++ {
		msg := make([]byte, 16)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:], uint16(os.Getpid()))
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		start := time.Now()
		if _, err := c.WriteTo(msg, dst); err != nil {
			lastErr = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				lastErr = err
				break
			}
			if n >= 8 && buf[0] == 0 && from.String() == addr && binary.BigEndian.Uint16(buf[6:]) == uint16(seq) {
				return time.Since(start), nil
			}
		}
	}
	return 0, lastErr
}

func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
