package usernet

import (
	"errors"
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID = 1

// newStack makes the network stack the guest talks to: one Ethernet NIC
// with the gateway's MAC holding 10.0.2.2 and 10.0.2.3 (so it answers ARP
// and ping for both), promiscuous and spoofing so that it takes the
// guest's packets to any address and answers from that address.
func newStack() (*stack.Stack, *channel.Endpoint, error) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
		HandleLocal:        false,
	})
	link := channel.New(queueLen, maxFrame, tcpip.LinkAddress(GatewayMAC))
	if err := s.CreateNIC(nicID, ethernet.New(link)); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("network stack: %s", err)
	}
	for _, a := range []tcpip.Address{addr(GatewayIP), addr(DNSIP)} {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: Subnet.Bits()}}
		if err := s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("network stack: %s", err)
		}
	}
	sub, err := tcpip.NewSubnet(addr(Subnet.Addr()), tcpip.MaskFromBytes([]byte{255, 255, 255, 0}))
	if err != nil {
		s.Close()
		return nil, nil, errors.New("network stack: the guest's subnet")
	}
	s.SetRouteTable([]tcpip.Route{{Destination: sub, NIC: nicID}})
	// Fixed buffers (the stack's defaults are 1 MiB, growing to 4):
	// what a guest can make gokvm hold is maxTCPFlows times these.
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: tcpBuffer, Max: tcpBuffer}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: tcpBuffer, Max: tcpBuffer}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("network stack: %s", err)
	}
	if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("network stack: %s", err)
	}
	if err := s.SetPromiscuousMode(nicID, true); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("network stack: %s", err)
	}
	if err := s.SetSpoofing(nicID, true); err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("network stack: %s", err)
	}
	return s, link, nil
}
