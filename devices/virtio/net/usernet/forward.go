package usernet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	dialTimeout = 10 * time.Second
	// udpIdle ends a UDP flow nothing crossed for this long (DNS
	// answers come in well under it).
	udpIdle = 60 * time.Second
)

func addr(a netip.Addr) tcpip.Address { return tcpip.AddrFrom4(a.As4()) }

func netipAddr(a tcpip.Address) netip.Addr { return netip.AddrFrom4(a.As4()) }

// forwarder takes the guest's TCP connections and UDP flows to any
// address and carries them over host sockets, counting what it holds
// open so that a guest cannot make it hold more than maxTCPFlows and
// maxUDPFlows.
type forwarder struct {
	u      *IO
	ctx    context.Context
	cancel context.CancelFunc
	tcp    chan struct{} // a token per open TCP flow
	udp    chan struct{}

	mu    sync.Mutex
	conns map[io.Closer]struct{} // cut on close
	wg    sync.WaitGroup
}

func newForwarder(u *IO) *forwarder {
	f := &forwarder{u: u, tcp: make(chan struct{}, maxTCPFlows), udp: make(chan struct{}, maxUDPFlows), conns: map[io.Closer]struct{}{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	// A window of 0 keeps the stack's default; at most maxTCPFlows
	// handshakes wait for the host's connect at once.
	tf := tcp.NewForwarder(u.stack, 0, maxTCPFlows, f.tcpFlow)
	u.stack.SetTransportProtocolHandler(tcp.ProtocolNumber, tf.HandlePacket)
	uf := udp.NewForwarder(u.stack, f.udpFlow)
	u.stack.SetTransportProtocolHandler(udp.ProtocolNumber, uf.HandlePacket)
	return f
}

// hostTarget is where a guest's connection to dst goes on the host: the
// gateway is the host's loopback, the DNS address its resolver (port 53
// only), another address in the guest's network nowhere, any other
// address itself (not the host's loopback, link-local or multicast ones:
// those the guest reaches, like slirp's, only through the gateway).
func (f *forwarder) hostTarget(dst netip.Addr, port uint16) (netip.AddrPort, bool) {
	switch {
	case dst == GatewayIP:
		return netip.AddrPortFrom(f.u.cfg.Loopback, port), true
	case dst == DNSIP:
		r := f.u.cfg.Resolver
		return r, port == 53 && r.IsValid()
	case Subnet.Contains(dst), !dst.IsGlobalUnicast(), f.u.cfg.hostOnly:
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(dst, port), true
}

// track remembers c until untrack, to cut it on close; it reports false
// (and closes c) when the forwarder is already closed.
func (f *forwarder) track(c io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx.Err() != nil {
		c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

// trackPair tracks both ends of a flow, or closes both and says false
// when the forwarder is closing.
func (f *forwarder) trackPair(a, b io.Closer) bool {
	if !f.track(a) {
		b.Close()
		return false
	}
	if !f.track(b) {
		f.untrack(a)
		return false
	}
	return true
}

func (f *forwarder) untrack(c io.Closer) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.cancel()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// tcpFlow handles the guest's SYN: the host connects first, and the
// guest's handshake completes only if it did (otherwise a reset), as a
// real peer would answer.
func (f *forwarder) tcpFlow(r *tcp.ForwarderRequest) {
	id := r.ID()
	target, ok := f.hostTarget(netipAddr(id.LocalAddress), id.LocalPort)
	if !ok {
		r.Complete(true)
		return
	}
	select {
	case f.tcp <- struct{}{}:
	default:
		r.Complete(true) // too many open: refused
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.tcp }()
		d := net.Dialer{Timeout: dialTimeout}
		host, err := d.DialContext(f.ctx, "tcp4", target.String())
		if err != nil {
			r.Complete(true)
			return
		}
		var wq waiter.Queue
		ep, terr := r.CreateEndpoint(&wq)
		if terr != nil {
			r.Complete(true)
			host.Close()
			return
		}
		r.Complete(false)
		f.splice(gonet.NewTCPConn(&wq, ep), host.(*net.TCPConn))
	}()
}

// halfCloser is a TCP connection of either side.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies both ways until both sides are done, passing on each
// side's end of data (FIN) to the other.
func (f *forwarder) splice(a, b halfCloser) {
	if !f.trackPair(a, b) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	copyHalf := func(dst, src halfCloser) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.CloseWrite()
	}
	go copyHalf(a, b)
	copyHalf(b, a)
	wg.Wait()
	f.untrack(a)
	f.untrack(b)
}

// udpFlow handles a datagram of a flow the stack has no endpoint for: an
// endpoint for the flow's guest side and a connected host socket carry
// it and what follows, until the flow is idle for udpIdle.
func (f *forwarder) udpFlow(r *udp.ForwarderRequest) {
	id := r.ID()
	target, ok := f.hostTarget(netipAddr(id.LocalAddress), id.LocalPort)
	if !ok {
		return
	}
	select {
	case f.udp <- struct{}{}:
	default:
		return // too many flows: dropped
	}
	host, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		<-f.udp
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		<-f.udp
		host.Close()
		return
	}
	guest := gonet.NewUDPConn(&wq, ep)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.udp }()
		f.relayUDP(guest, host)
	}()
}

// relayUDP copies datagrams both ways between two connected sockets
// until one fails or the flow is idle.
func (f *forwarder) relayUDP(a, b net.Conn) {
	if !f.trackPair(a, b) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	pump := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			src.SetReadDeadline(time.Now().Add(udpIdle))
			n, err := src.Read(buf)
			if err != nil {
				// Idle or closed: closing both ends the other
				// direction too.
				a.Close()
				b.Close()
				return
			}
			dst.Write(buf[:n])
		}
	}
	go pump(a, b)
	pump(b, a)
	wg.Wait()
	f.untrack(a)
	f.untrack(b)
}

func timeAfterIdle() time.Time { return time.Now().Add(udpIdle) }

func netipAddrPort(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
