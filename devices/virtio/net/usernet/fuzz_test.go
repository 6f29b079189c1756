package usernet

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzGuestFrames sends what a guest might: frames built from the fuzzer's
// bytes, some shaped as ARP, IPv4, TCP, UDP and DHCP so that they get past
// the first checks, with headers asking for checksums anywhere. Nothing
// may panic, the network must still work afterwards, and what the stack
// holds must stay bounded.
func FuzzGuestFrames(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, uint8(0), uint16(0), uint16(0))
	f.Add(dhcpClientFrame(dhcpDiscover, 1, GuestIP, GatewayIP), uint8(0), uint16(0), uint16(0))
	f.Add(tcpFrame([]byte("hello")), uint8(1), uint16(34), uint16(16))
	f.Add(tcpFrame(nil)[14:], uint8(2), uint16(0), uint16(0))
	f.Add(tcpFrame(nil)[34:], uint8(3), uint16(20), uint16(6))
	u, err := New(Config{hostOnly: true})
	if err != nil {
		f.Fatal(err)
	}
	defer u.Close()
	u.SetHeaderSize(testHdr)
	go func() { // the guest reads whatever comes
		buf := make([]byte, 65536)
		for {
			if _, err := u.ReadPacket(buf); err != nil {
				return
			}
		}
	}()
	f.Fuzz(func(t *testing.T, b []byte, shape uint8, csumStart, csumOff uint16) {
		frame := shapeFrame(b, shape)
		flags := byte(0)
		if shape&0x80 != 0 {
			flags = hdrFNeedsCsum
		}
		send(t, u, frame, flags, csumStart, csumOff)
		// The network still answers DHCP.
		if shape == 0xff {
			send(t, u, dhcpClientFrame(dhcpDiscover, 9, GuestIP, GatewayIP), 0, 0, 0)
		}
	})
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapInuse > 1<<30 {
		f.Errorf("%d bytes of heap in use", m.HeapInuse)
	}
	_ = time.Second
}

// shapeFrame puts headers before b according to shape's low bits: raw,
// Ethernet, IPv4 (TCP or UDP to the gateway or elsewhere), ARP.
func shapeFrame(b []byte, shape uint8) []byte {
	eth := make([]byte, 14)
	copy(eth[0:6], GatewayMAC)
	copy(eth[6:12], guestMAC)
	switch shape & 7 {
	case 0:
		return b
	case 1:
		binary.BigEndian.PutUint16(eth[12:], uint16(header.IPv4ProtocolNumber))
		return append(eth, b...)
	case 2:
		binary.BigEndian.PutUint16(eth[12:], uint16(header.ARPProtocolNumber))
		return append(eth, b...)
	}
	proto := header.TCPProtocolNumber
	if shape&1 != 0 {
		proto = header.UDPProtocolNumber
	}
	dst := addr(GatewayIP)
	if shape&8 != 0 {
		dst = addr(DNSIP)
	}
	binary.BigEndian.PutUint16(eth[12:], uint16(header.IPv4ProtocolNumber))
	ip := make(header.IPv4, 20)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(20 + len(b)), TTL: 64, Protocol: uint8(proto), SrcAddr: addr(GuestIP), DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	return append(append(eth, ip...), b...)
}
