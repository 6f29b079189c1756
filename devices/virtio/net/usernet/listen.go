package usernet

import (
	"context"
	"fmt"
	"net"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/gokvm/gokvm/internal/accept"
)

// hostForward is one HostFwd: a host socket whose connections (TCP) or
// datagrams (UDP) go to the guest's port, from the gateway's address.
type hostForward struct {
	rule HostFwd
	tcp  tcpListener
	udp  *net.UDPConn
	stop chan struct{} // closed by close: a wait between accepts ends
	wg   sync.WaitGroup
}

// tcpListener is what a TCP forward accepts from: its host socket, or in
// tests one that fails on purpose.
type tcpListener interface {
	AcceptTCP() (*net.TCPConn, error)
	Addr() net.Addr
	Close() error
}

// listen binds the rule's host port and starts serving it.
func (u *IO) listen(rule HostFwd) (*hostForward, error) {
	h := &hostForward{rule: rule, stop: make(chan struct{})}
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
	ln, err := net.ListenTCP("tcp4", local)
	if err != nil {
		return nil, err
	}
	h.tcp = ln
	u.startTCP(h)
	return h, nil
}

// startTCP serves h's listener on a goroutine of its own until close.
func (u *IO) startTCP(h *hostForward) {
	h.wg.Add(1)
	go func() { defer h.wg.Done(); u.serveTCP(h) }()
}

func (h *hostForward) close() {
	close(h.stop)
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
// guest refuses (or does not answer) is closed. A failed accept (the host
// out of descriptors, say) is waited out, not the end of the forward:
// only close ends it.
func (u *IO) serveTCP(h *hostForward) {
	prefix := fmt.Sprintf("hostfwd %s: ", h.rule)
	if u.cfg.Name != "" {
		prefix = u.cfg.Name + ": " + prefix
	}
	logf := func(format string, args ...any) { u.cfg.Log.Printf(prefix+format, args...) }
	accept.Loop(h.tcp.AcceptTCP, h.stop, logf, func(host *net.TCPConn) { u.forwardTCP(h, host) })
}

// forwardTCP connects one accepted connection to the guest's port, on a
// goroutine of its own.
func (u *IO) forwardTCP(h *hostForward, host *net.TCPConn) {
	f := u.fwd
	select {
	case f.tcp <- struct{}{}:
	default:
		host.Close() // too many open
		return
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
