package usernet

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/gokvm/gokvm/devices/virtio"
)

var guestMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// testGuest is a second network stack standing for the guest's kernel,
// wired to an IO as the virtio-net device would: its frames go to
// WritePacket behind a virtio-net header, and ReadPacket's frames lose
// theirs on the way in.
type testGuest struct {
	u    *IO
	s    *stack.Stack
	link *channel.Endpoint
	stop func() // stops carrying frames to and from u
}

const testHdr = 12

// newTestIO starts a network on cfg, closed at the test's end.
func newTestIO(t *testing.T, cfg Config) *IO {
	t.Helper()
	cfg.hostOnly = true
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.SetHeaderSize(testHdr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// send writes one frame as the device would, with a header of flags
// (checksum offsets csumStart, csumOff when flags ask for them).
func send(t *testing.T, u *IO, frame []byte, flags byte, csumStart, csumOff uint16) error {
	hdr := make([]byte, testHdr)
	hdr[0] = flags
	hdr[6], hdr[7] = byte(csumStart), byte(csumStart>>8)
	hdr[8], hdr[9] = byte(csumOff), byte(csumOff>>8)
	var iov virtio.IOVecs
	iov.Add(hdr)
	iov.Add(frame)
	return u.WritePacket(&iov)
}

// receive reads one frame from the network, without its header, or nil
// after d.
func receive(u *IO, d time.Duration) []byte {
	t := time.AfterFunc(d, u.Interrupt)
	defer func() { t.Stop(); u.Resume() }()
	buf := make([]byte, 65536)
	n, err := u.ReadPacket(buf)
	if err != nil {
		return nil
	}
	return buf[testHdr:n]
}

// wireGuest starts a guest stack at addr (invalid: none yet) on u.
func wireGuest(t *testing.T, u *IO, addr netip.Addr) *testGuest {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	link := channel.New(1024, maxFrame, tcpip.LinkAddress(guestMAC))
	if err := s.CreateNIC(1, ethernet.New(link)); err != nil {
		t.Fatal(err)
	}
	if addr.IsValid() {
		configureGuest(t, s, addr)
	}
	g := &testGuest{u: u, s: s, link: link, stop: pumpGuest(t, link, u)}
	t.Cleanup(func() {
		g.stop()
		s.Close()
		s.Wait()
	})
	return g
}

// moveTo wires the guest to another network, as a restored machine's
// guest finds a user network started afresh.
func (g *testGuest) moveTo(t *testing.T, u *IO) {
	g.stop()
	g.u, g.stop = u, pumpGuest(t, g.link, u)
}

// pumpGuest carries frames between a guest stack's link and u, as the
// virtio-net device would, until the returned stop is called (which
// waits for it to end).
func pumpGuest(t *testing.T, link *channel.Endpoint, u *IO) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { // guest -> network
		defer func() { done <- struct{}{} }()
		for {
			pkt := link.ReadContext(ctx)
			if pkt == nil {
				return
			}
			var frame []byte
			for _, b := range pkt.AsSlices() {
				frame = append(frame, b...)
			}
			pkt.DecRef()
			send(t, u, frame, 0, 0, 0)
		}
	}()
	go func() { // network -> guest
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 65536)
		for {
			n, err := u.ReadPacket(buf)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(buf[testHdr:n])})
			link.InjectInbound(0, pkt)
			pkt.DecRef()
		}
	}()
	var once bool
	return func() {
		if once {
			return
		}
		once = true
		cancel()
		u.Interrupt()
		<-done
		<-done
		u.Resume()
	}
}

// configureGuest gives the guest stack addr/24 and a default route
// through the gateway, as a DHCP client would.
func configureGuest(t *testing.T, s *stack.Stack, a netip.Addr) {
	t.Helper()
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(a.As4()), PrefixLen: 24}}
	if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	sub, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{}), tcpip.MaskFromBytes(make([]byte, 4)))
	local, _ := tcpip.NewSubnet(addr(Subnet.Addr()), tcpip.MaskFromBytes([]byte{255, 255, 255, 0}))
	s.SetRouteTable([]tcpip.Route{
		{Destination: local, NIC: 1},
		{Destination: sub, Gateway: addr(GatewayIP), NIC: 1},
	})
}
