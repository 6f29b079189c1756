package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	vnet "github.com/gokvm/gokvm/devices/virtio/net"
	"github.com/gokvm/gokvm/e2e/netcfg"
	"github.com/gokvm/gokvm/e2e/pattern"
)

// User-mode network actions:
//
//	dhcp:IF                     lease an address by DHCP and give it to IF
//	                            (GUEST-DHCP with what the server said)
//	tcpxchg:IP:PORT:SEED:MiB    connect, send the pattern, half-close,
//	                            read to EOF (GUEST-UX-SENT, GUEST-UX-RECV)
//	tcpserve:PORT:SEED:MiB      accept one connection, greet with a
//	                            byte, read to EOF, send the pattern
//	                            (GUEST-SRV-RECV, GUEST-SRV-SENT)
func userNetAction(f []string) error {
	switch f[0] {
	case "dhcp":
		return dhcpLease(f[1])
	case "tcpxchg":
		seed, _ := strconv.ParseUint(f[3], 10, 64)
		mb, _ := strconv.Atoi(f[4])
		c, err := dial(f[1] + ":" + f[2])
		if err != nil {
			return err
		}
		defer c.Close()
		data := pattern.Bytes(seed, mb<<20)
		start := time.Now()
		if _, err := c.Write(data); err != nil {
			return err
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		fmt.Printf("GUEST-UX-SENT %s %d %.2f MB/s\n", pattern.SHA256(data), len(data), float64(len(data))/1e6/time.Since(start).Seconds())
		start = time.Now()
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-UX-RECV %s %d %.2f MB/s\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds())
	case "tcpserve":
		seed, _ := strconv.ParseUint(f[2], 10, 64)
		mb, _ := strconv.Atoi(f[3])
		l, err := net.Listen("tcp4", ":"+f[1])
		if err != nil {
			return err
		}
		defer l.Close()
		fmt.Printf("GUEST-LISTEN %s\n", f[1])
		c, err := l.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte{'!'}); err != nil {
			return err
		}
		start := time.Now()
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-SRV-RECV %s %d %.2f MB/s from %s\n", pattern.SHA256(b), len(b), float64(len(b))/1e6/time.Since(start).Seconds(), c.RemoteAddr())
		data := pattern.Bytes(seed, mb<<20)
		start = time.Now()
		if _, err := c.Write(data); err != nil {
			return err
		}
		fmt.Printf("GUEST-SRV-SENT %s %d %.2f MB/s\n", pattern.SHA256(data), len(data), float64(len(data))/1e6/time.Since(start).Seconds())
	default:
		return fmt.Errorf("unknown action %q", strings.Join(f, ":"))
	}
	return nil
}

// DHCP (RFC 2131): a client just big enough to lease one address.
const (
	dhcpDiscover, dhcpOffer, dhcpRequest, dhcpAck = 1, 2, 3, 5
	bootpLen                                      = 236
	dhcpMagic                                     = 0x63825363
)

// dhcpLease brings ifname up without an address, leases one over a UDP
// socket bound to the interface (broadcasts from 0.0.0.0, as the kernel
// allows on a bound socket), and configures it.
func dhcpLease(ifname string) error {
	if err := netcfg.WaitInterface(ifname, 5*time.Second); err != nil {
		return err
	}
	if err := vnet.SetLinkUp(ifname); err != nil {
		return err
	}
	if err := netcfg.WaitCarrier(ifname, 5*time.Second); err != nil {
		return err
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, o := range []int{unix.SO_REUSEADDR, unix.SO_BROADCAST} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, 1); err != nil {
			return err
		}
	}
	if err := unix.BindToDevice(fd, ifname); err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 68}); err != nil {
		return err
	}
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	xid := rand.Uint32()
	offer, err := dhcpExchange(fd, dhcpMessage(dhcpDiscover, xid, ifc.HardwareAddr, nil, nil), xid, dhcpOffer)
	if err != nil {
		return fmt.Errorf("DHCP discover: %v", err)
	}
	yiaddr := net.IP(offer.msg[16:20])
	ack, err := dhcpExchange(fd, dhcpMessage(dhcpRequest, xid, ifc.HardwareAddr, yiaddr, offer.opts[54]), xid, dhcpAck)
	if err != nil {
		return fmt.Errorf("DHCP request: %v", err)
	}
	addr, mask := net.IP(ack.msg[16:20]), net.IPMask(ack.opts[1])
	bits, _ := mask.Size()
	if err := netcfg.Up(ifname, fmt.Sprintf("%s/%d", addr, bits)); err != nil {
		return err
	}
	fmt.Printf("GUEST-DHCP %s lease %s/%d router %s dns %s server %s lease-time %d\n", ifname, addr, bits,
		net.IP(ack.opts[3]), net.IP(ack.opts[6]), net.IP(ack.opts[54]), binary.BigEndian.Uint32(append(ack.opts[51], 0, 0, 0, 0)))
	return nil
}

type dhcpReply struct {
	msg  []byte
	opts map[byte][]byte
}

// dhcpExchange broadcasts msg until a reply of kind with xid arrives (5
// tries).
func dhcpExchange(fd int, msg []byte, xid uint32, kind byte) (dhcpReply, error) {
	to := &unix.SockaddrInet4{Port: 67, Addr: [4]byte{255, 255, 255, 255}}
	buf := make([]byte, 1500)
	var lastErr error
	for try := 0; try < 5; try++ {
		if err := unix.Sendto(fd, msg, 0, to); err != nil {
			return dhcpReply{}, err
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				lastErr = err
				break
			}
			r := buf[:n]
			if n < bootpLen+4 || r[0] != 2 || binary.BigEndian.Uint32(r[4:]) != xid || binary.BigEndian.Uint32(r[bootpLen:]) != dhcpMagic {
				continue
			}
			opts := map[byte][]byte{}
			for o := r[bootpLen+4:]; len(o) >= 2 && o[0] != 255; {
				if o[0] == 0 {
					o = o[1:]
					continue
				}
				l := int(o[1])
				if len(o) < 2+l {
					break
				}
				opts[o[0]] = append([]byte(nil), o[2:2+l]...)
				o = o[2+l:]
			}
			if t := opts[53]; len(t) == 1 && t[0] == kind {
				return dhcpReply{msg: append([]byte(nil), r...), opts: opts}, nil
			}
		}
	}
	return dhcpReply{}, fmt.Errorf("no answer: %v", lastErr)
}

// dhcpMessage is a client message of kind; a REQUEST names the offered
// address and the server that offered it.
func dhcpMessage(kind byte, xid uint32, mac net.HardwareAddr, requested net.IP, server []byte) []byte {
	m := make([]byte, bootpLen+4)
	m[0], m[1], m[2] = 1, 1, 6 // BOOTREQUEST, Ethernet
	binary.BigEndian.PutUint32(m[4:], xid)
	binary.BigEndian.PutUint16(m[10:], 0x8000) // answer by broadcast: no address yet
	copy(m[28:], mac)
	binary.BigEndian.PutUint32(m[bootpLen:], dhcpMagic)
	m = append(m, 53, 1, kind)
	if requested != nil {
		m = append(append(m, 50, 4), requested.To4()...)
	}
	if len(server) == 4 {
		m = append(append(m, 54, 4), server...)
	}
	m = append(m, 55, 3, 1, 3, 6) // parameters wanted: mask, router, DNS
	return append(m, 255)
}
