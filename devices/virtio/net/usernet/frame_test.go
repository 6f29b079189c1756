package usernet

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// tcpFrame is an Ethernet frame holding a TCP segment with payload, its
// checksum complete.
func tcpFrame(payload []byte) []byte {
	f := make([]byte, 14+20+20+len(payload))
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(guestMAC), DstAddr: tcpip.LinkAddress(GatewayMAC), Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(f[14:])
	src, dst := addr(GuestIP), addr(GatewayIP)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip[20:])
	tcp.Encode(&header.TCPFields{SrcPort: 1000, DstPort: 80, SeqNum: 7, DataOffset: 20, Flags: header.TCPFlagAck | header.TCPFlagPsh, WindowSize: 1000})
	copy(tcp[20:], payload)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	tcp.SetChecksum(^checksum.Checksum(tcp, xsum))
	return f
}

// TestChecksumCompleted: a frame whose header asks for its checksum
// (NEEDS_CSUM, the field holding the pseudo-header's sum as Linux leaves
// it) leaves with the checksum a full computation gives.
func TestChecksumCompleted(t *testing.T) {
	for _, size := range []int{0, 1, 2, 3, 1000, 1460} {
		want := tcpFrame(randomBytes(int64(size), size))
		partial := bytes.Clone(want)
		tcp := header.TCP(partial[34:])
		tcp.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, addr(GuestIP), addr(GatewayIP), uint16(len(tcp))))
		b := append(make([]byte, testHdr), partial...)
		b[0] = hdrFNeedsCsum
		b[6], b[8] = 34, 16 // csum_start: the TCP header; csum_offset: its checksum
		got, err := guestFrame(b, testHdr)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d-byte payload: checksum %#x, %v; want %#x", size, header.TCP(got[34:]).Checksum(), err, header.TCP(want[34:]).Checksum())
		}
	}
}

// TestGuestFrameRefused: frames the device never offered to take and
// checksum offsets outside the frame are errors, not slices past it.
func TestGuestFrameRefused(t *testing.T) {
	f := tcpFrame(nil)
	for name, hdr := range map[string][]byte{
		"gso":           {0, 1, 0, 0, 0, 0, 34, 0, 16, 0, 0, 0},
		"csum start":    {1, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0},
		"csum offset":   {1, 0, 0, 0, 0, 0, 34, 0, 0xff, 0xff, 0, 0},
		"csum at end-1": {1, 0, 0, 0, 0, 0, byte(len(f) - 1), 0, 0, 0, 0, 0},
	} {
		if _, err := guestFrame(append(hdr, f...), testHdr); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := guestFrame(make([]byte, testHdr+14+maxFrame), testHdr); err == nil {
		t.Errorf("a frame over the MTU: accepted")
	}
	if _, err := guestFrame(make([]byte, testHdr+13), testHdr); err == nil {
		t.Errorf("a frame shorter than an Ethernet header: accepted")
	}
}
