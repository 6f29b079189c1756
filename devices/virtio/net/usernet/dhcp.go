package usernet

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// DHCP (RFC 2131, options RFC 2132): the server answers before the stack
// sees the frame, as slirp's does, and leases GuestIP to whoever asks:
// there is one guest on this network.
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
	bootpLen       = 236 // the fixed part, before the magic cookie
	dhcpMagic      = 0x63825363
	leaseSeconds   = 86400

	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6

	optPad       = 0
	optMask      = 1
	optRouter    = 3
	optDNS       = 6
	optRequested = 50
	optLease     = 51
	optType      = 53
	optServerID  = 54
	optEnd       = 255
)

// dhcp returns the reply frame to a DHCP DISCOVER or REQUEST in frame, or
// nil when frame is none (or one to ignore: a RELEASE, a REQUEST for
// another server).
func (u *IO) dhcp(frame []byte) []byte {
	eth := header.Ethernet(frame)
	if eth.Type() != header.IPv4ProtocolNumber {
		return nil
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if !ip.IsValid(len(ip)) || ip.Protocol() != uint8(header.UDPProtocolNumber) || ip.FragmentOffset() != 0 || ip.More() {
		return nil
	}
	l4 := ip[ip.HeaderLength():ip.TotalLength()]
	if len(l4) < header.UDPMinimumSize {
		return nil
	}
	udp := header.UDP(l4)
	if udp.DestinationPort() != dhcpServerPort || int(udp.Length()) > len(l4) || udp.Length() < header.UDPMinimumSize {
		return nil
	}
	msg := udp[header.UDPMinimumSize:udp.Length()]
	if len(msg) < bootpLen+4 || msg[0] != 1 || binary.BigEndian.Uint32(msg[bootpLen:]) != dhcpMagic {
		return nil
	}
	var kind byte
	var requested, server []byte
	walkOptions(msg[bootpLen+4:], func(code byte, v []byte) {
		switch {
		case code == optType && len(v) == 1:
			kind = v[0]
		case code == optRequested && len(v) == 4:
			requested = v
		case code == optServerID && len(v) == 4:
			server = v
		}
	})
	gw, guest := GatewayIP.As4(), GuestIP.As4()
	var reply byte
	switch kind {
	case dhcpDiscover:
		reply = dhcpOffer
	case dhcpRequest:
		if server != nil && [4]byte(server) != gw {
			return nil // the guest chose another server's offer
		}
		ciaddr := msg[12:16]
		switch {
		case requested != nil && [4]byte(requested) != guest,
			requested == nil && [4]byte(ciaddr) != guest:
			reply = dhcpNak
		default:
			reply = dhcpAck
		}
	default:
		return nil
	}
	return dhcpReply(msg, reply)
}

// walkOptions calls f for each well-formed option up to the end option.
func walkOptions(b []byte, f func(code byte, v []byte)) {
	for len(b) > 0 {
		code := b[0]
		switch code {
		case optPad:
			b = b[1:]
			continue
		case optEnd:
			return
		}
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return
		}
		f(code, b[2:2+int(b[1])])
		b = b[2+int(b[1]):]
	}
}

// dhcpReply builds the server's answer to the request req as a broadcast
// frame: the guest has no address yet to be sent to.
func dhcpReply(req []byte, kind byte) []byte {
	gw, guest, dns := GatewayIP.As4(), GuestIP.As4(), DNSIP.As4()
	msg := make([]byte, bootpLen+4, 300)
	msg[0] = 2                   // BOOTREPLY
	copy(msg[1:3], req[1:3])     // htype, hlen
	copy(msg[4:8], req[4:8])     // xid
	copy(msg[10:12], req[10:12]) // flags
	copy(msg[28:44], req[28:44]) // chaddr
	if kind != dhcpNak {
		copy(msg[16:20], guest[:]) // yiaddr
		copy(msg[20:24], gw[:])    // siaddr
	}
	binary.BigEndian.PutUint32(msg[bootpLen:], dhcpMagic)
	opt := func(code byte, v ...byte) { msg = append(append(msg, code, byte(len(v))), v...) }
	opt(optType, kind)
	opt(optServerID, gw[:]...)
	if kind != dhcpNak {
		opt(optLease, binary.BigEndian.AppendUint32(nil, leaseSeconds)...)
		opt(optMask, 255, 255, 255, 0)
		opt(optRouter, gw[:]...)
		opt(optDNS, dns[:]...)
	}
	msg = append(msg, optEnd)
	for len(msg) < 300 { // BOOTP's minimum, which some clients expect
		msg = append(msg, optPad)
	}

	frame := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize+len(msg))
	header.Ethernet(frame).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(GatewayMAC),
		DstAddr: header.EthernetBroadcastAddress,
		Type:    header.IPv4ProtocolNumber,
	})
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	src, dst := tcpip.AddrFrom4(gw), tcpip.AddrFrom4([4]byte{255, 255, 255, 255})
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)),
		TTL:         64,
		Protocol:    uint8(header.UDPProtocolNumber),
		SrcAddr:     src,
		DstAddr:     dst,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	udp := header.UDP(ip[header.IPv4MinimumSize:])
	udp.Encode(&header.UDPFields{SrcPort: dhcpServerPort, DstPort: dhcpClientPort, Length: uint16(len(udp))})
	copy(udp[header.UDPMinimumSize:], msg)
	xsum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(len(udp)))
	udp.SetChecksum(^checksum.Checksum(udp, xsum))
	return frame
}
