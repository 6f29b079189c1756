package usernet

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// dhcpClientFrame is a client's broadcast DHCP message of kind, with a
// requested address and server identifier when valid.
func dhcpClientFrame(kind byte, xid uint32, requested, server netip.Addr) []byte {
	msg := make([]byte, bootpLen+4)
	msg[0], msg[1], msg[2] = 1, 1, 6
	binary.BigEndian.PutUint32(msg[4:], xid)
	copy(msg[28:], guestMAC)
	binary.BigEndian.PutUint32(msg[bootpLen:], dhcpMagic)
	msg = append(msg, optType, 1, kind)
	if requested.IsValid() {
		a := requested.As4()
		msg = append(append(msg, optRequested, 4), a[:]...)
	}
	if server.IsValid() {
		a := server.As4()
		msg = append(append(msg, optServerID, 4), a[:]...)
	}
	msg = append(msg, optEnd)
	frame := make([]byte, 14+20+8+len(msg))
	header.Ethernet(frame).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(guestMAC), DstAddr: header.EthernetBroadcastAddress, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(frame[14:])
	src, dst := tcpip.AddrFrom4([4]byte{}), tcpip.AddrFrom4([4]byte{255, 255, 255, 255})
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(ip[20:])
	udp.Encode(&header.UDPFields{SrcPort: dhcpClientPort, DstPort: dhcpServerPort, Length: uint16(len(udp))})
	copy(udp[8:], msg)
	udp.SetChecksum(^checksum.Checksum(udp, header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(len(udp)))))
	return frame
}

type dhcpAnswer struct {
	kind                byte
	xid                 uint32
	yiaddr              netip.Addr
	router, dns, server netip.Addr
	mask                netip.Addr
	lease               uint32
}

// readDHCPReply checks frame is a well-formed DHCP reply to the client
// and returns what it says.
func readDHCPReply(t *testing.T, frame []byte) dhcpAnswer {
	t.Helper()
	if len(frame) < 14+20+8+bootpLen+4 {
		t.Fatalf("a %d-byte frame is no DHCP reply", len(frame))
	}
	eth := header.Ethernet(frame)
	if eth.DestinationAddress() != header.EthernetBroadcastAddress || eth.SourceAddress() != tcpip.LinkAddress(GatewayMAC) {
		t.Errorf("reply from %s to %s, want from the gateway to broadcast", eth.SourceAddress(), eth.DestinationAddress())
	}
	ip := header.IPv4(frame[14:])
	if !ip.IsValid(len(ip)) || ip.CalculateChecksum() != 0xffff {
		t.Fatalf("bad IPv4 header % x", frame[14:34])
	}
	if ip.SourceAddress() != addr(GatewayIP) {
		t.Errorf("reply from %s", ip.SourceAddress())
	}
	udp := header.UDP(ip.Payload())
	if !udp.IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress(), checksum.Checksum(udp.Payload(), 0)) {
		t.Errorf("bad UDP checksum")
	}
	if udp.SourcePort() != dhcpServerPort || udp.DestinationPort() != dhcpClientPort {
		t.Errorf("ports %d -> %d", udp.SourcePort(), udp.DestinationPort())
	}
	msg := udp.Payload()
	a := dhcpAnswer{xid: binary.BigEndian.Uint32(msg[4:]), yiaddr: netip.AddrFrom4([4]byte(msg[16:20]))}
	if msg[0] != 2 {
		t.Errorf("op %d, want BOOTREPLY", msg[0])
	}
	walkOptions(msg[bootpLen+4:], func(code byte, v []byte) {
		switch code {
		case optType:
			a.kind = v[0]
		case optRouter:
			a.router = netip.AddrFrom4([4]byte(v))
		case optDNS:
			a.dns = netip.AddrFrom4([4]byte(v))
		case optServerID:
			a.server = netip.AddrFrom4([4]byte(v))
		case optMask:
			a.mask = netip.AddrFrom4([4]byte(v))
		case optLease:
			a.lease = binary.BigEndian.Uint32(v)
		}
	})
	return a
}

// TestDHCPLease: DISCOVER gets an OFFER of 10.0.2.15 with QEMU's
// gateway, DNS server and mask; REQUEST of it an ACK, REQUEST of another
// address a NAK, and a REQUEST for another server no answer.
func TestDHCPLease(t *testing.T) {
	u := newTestIO(t, Config{})
	if err := send(t, u, dhcpClientFrame(dhcpDiscover, 0x1234, netip.Addr{}, netip.Addr{}), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	offer := readDHCPReply(t, receive(u, 5*time.Second))
	want := dhcpAnswer{kind: dhcpOffer, xid: 0x1234, yiaddr: GuestIP, router: GatewayIP, dns: DNSIP, server: GatewayIP,
		mask: netip.MustParseAddr("255.255.255.0"), lease: leaseSeconds}
	if offer != want {
		t.Errorf("offer %+v, want %+v", offer, want)
	}
	send(t, u, dhcpClientFrame(dhcpRequest, 0x1235, GuestIP, GatewayIP), 0, 0, 0)
	ack := readDHCPReply(t, receive(u, 5*time.Second))
	want.kind, want.xid = dhcpAck, 0x1235
	if ack != want {
		t.Errorf("ack %+v, want %+v", ack, want)
	}
	send(t, u, dhcpClientFrame(dhcpRequest, 0x1236, netip.MustParseAddr("10.0.2.16"), GatewayIP), 0, 0, 0)
	if nak := readDHCPReply(t, receive(u, 5*time.Second)); nak.kind != dhcpNak || nak.yiaddr.IsValid() && !nak.yiaddr.IsUnspecified() {
		t.Errorf("a request for 10.0.2.16: %+v, want a NAK", nak)
	}
	send(t, u, dhcpClientFrame(dhcpRequest, 0x1237, GuestIP, netip.MustParseAddr("10.0.2.99")), 0, 0, 0)
	if f := receive(u, 300*time.Millisecond); f != nil {
		t.Errorf("a request for another server was answered: % x", f)
	}
}
