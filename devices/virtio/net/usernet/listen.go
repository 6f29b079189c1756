package usernet

import (
	"context"
	"net"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// hostForward is one HostFwd: a host socket whose connections (TCP) or
// datagrams (UDP) go to the guest's port, from the gateway's address.
type hostForward struct {
	rule HostFwd
	tcp  *net.TCPListener
	udp  *net.UDPConn
	wg   sync.WaitGroup
}

// listen binds the rule's host port and starts serving it.
func (u *IO) listen(rule HostFwd) (*hostForward, error) {
	h := &hostForward{rule: rule}
	local := net.TCPAddrFromAddrPort(netipAddrPort(rule.HostAddr, rule.HostPort))
	var err error
	if rule.UDP {
		h.udp, err = net.ListenUDP("udp4", (*net.UDPAddr)(local))
		if err != nil {
			return nil, err
		}
		h.wg.Add(1)
		go func() { defer h.wg.Done(); u.serveUDP(h) }()
		return h, nil
	}
	h.tcp, err = net.ListenTCP("tcp4", local)
	if err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go func() { defer h.wg.Done(); u.serveTCP(h) }()
	return h, nil
}

func (h *hostForward) close() {
	if h.tcp != nil {
		h.tcp.Close()
	}
	if h.udp != nil {
		h.udp.Close()
	}
	h.wg.Wait()
}

func (h *hostForward) guestAddr() tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: addr(h.rule.GuestAddr), Port: h.rule.GuestPort}
}

// serveTCP connects each accepted connection to the guest's port; one the
// guest refuses (or does not answer) is closed.
func (u *IO) serveTCP(h *hostForward) {
	f := u.fwd
	for {
		host, err := h.tcp.AcceptTCP()
		if err != nil {
			return // closed
		}
		select {
		case f.tcp <- struct{}{}:
		default:
			host.Close() // too many open
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() { <-f.tcp }()
			ctx, cancel := context.WithTimeout(f.ctx, dialTimeout)
			defer cancel()
			guest, err := gonet.DialTCPWithBind(ctx, u.stack, tcpip.FullAddress{NIC: nicID, Addr: addr(GatewayIP)}, h.guestAddr(), ipv4.ProtocolNumber)
			if err != nil {
				host.Close()
				return
			}
			f.splice(guest, host)
		}()
	}
}

// serveUDP relays datagrams from each host peer to the guest's port over
// a flow of its own, and the guest's answers back to that peer.
func (u *IO) serveUDP(h *hostForward) {
	f := u.fwd
	var mu sync.Mutex
	flows := map[string]*gonet.UDPConn{}
	buf := make([]byte, 65536)
	for {
		n, peer, err := h.udp.ReadFromUDP(buf)
		if err != nil {
			mu.Lock()
			for _, c := range flows {
				c.Close()
			}
			mu.Unlock()
			return
		}
		key := peer.String()
		mu.Lock()
		c := flows[key]
		mu.Unlock()
		if c == nil {
			select {
			case f.udp <- struct{}{}:
			default:
				continue // too many flows: dropped
			}
			c, err = gonet.DialUDP(u.stack, &tcpip.FullAddress{NIC: nicID, Addr: addr(GatewayIP)}, ptr(h.guestAddr()), ipv4.ProtocolNumber)
			if err != nil {
				<-f.udp
				continue
			}
			mu.Lock()
			flows[key] = c
			mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer func() { <-f.udp }()
				defer func() { mu.Lock(); delete(flows, key); mu.Unlock(); c.Close() }()
				b := make([]byte, 65536)
				for {
					c.SetReadDeadline(timeAfterIdle())
					n, err := c.Read(b)
					if err != nil {
						return
					}
					h.udp.WriteToUDP(b[:n], peer)
				}
			}()
		}
		c.Write(buf[:n])
	}
}

func ptr[T any](v T) *T { return &v }
