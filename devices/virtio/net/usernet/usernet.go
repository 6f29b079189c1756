// Package usernet is a virtio-net backend that needs no privilege and no
// tap: the guest's frames go into a user-mode TCP/IP stack (gVisor's
// netstack) that answers as QEMU's user networking (slirp) does. The guest
// gets 10.0.2.15/24 by DHCP, with gateway 10.0.2.2 and DNS server
// 10.0.2.3; its TCP connections and UDP flows leave through the host's own
// sockets (connections to 10.0.2.2 go to the host's 127.0.0.1, DNS to
// 10.0.2.3 goes to the host's resolver); host ports can be forwarded into
// the guest (HostFwd).
//
// It lives in its own package so that only a binary that uses it links
// the network stack.
package usernet

import (
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gokvm/gokvm/devices/virtio"
	vnet "github.com/gokvm/gokvm/devices/virtio/net"
)

// The guest's network, QEMU's defaults.
var (
	Subnet    = netip.MustParsePrefix("10.0.2.0/24")
	GatewayIP = netip.MustParseAddr("10.0.2.2") // also the host: its 127.0.0.1
	DNSIP     = netip.MustParseAddr("10.0.2.3")
	GuestIP   = netip.MustParseAddr("10.0.2.15")
	broadcast = netip.MustParseAddr("10.0.2.255")
	// GatewayMAC is slirp's: 52:55 and the gateway's address.
	GatewayMAC = net.HardwareAddr{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}
)

const (
	// mtu is the guest's Ethernet MTU (the stack's IP MTU).
	mtu = 1500
	// maxFrame is the largest frame either way: the MTU and an Ethernet
	// header (the device offers no segmentation offload: see NoGSO).
	maxFrame = mtu + 14
	// queueLen bounds the frames waiting for the guest; past it the
	// stack's frames are dropped (TCP sends them again).
	queueLen = 1024
	// Bounds on what a guest can make the host hold open: at most
	// maxTCPFlows connections, each with tcpBuffer to send and to
	// receive in the stack (512 MiB in all), and maxUDPFlows flows.
	maxTCPFlows = 256
	maxUDPFlows = 256
	tcpBuffer   = 1 << 20
)

// Config describes one user-mode network.
type Config struct {
	// Name prefixes log messages (the NIC's name).
	Name string
	// HostFwds are the host ports forwarded into the guest.
	HostFwds []HostFwd
	// Resolver is where DNS queries to 10.0.2.3 go; the zero value
	// reads the first nameserver of /etc/resolv.conf (none: DNS queries
	// go unanswered).
	Resolver netip.AddrPort
	// Loopback is where connections to the gateway go (default
	// 127.0.0.1).
	Loopback netip.Addr
	Log      *log.Logger

	// hostOnly keeps tests' traffic on the host: addresses outside
	// the guest's network are refused as the gateway's own are not.
	hostOnly bool
}

var (
	_ vnet.PacketIO = (*IO)(nil)
	_ vnet.NoGSO    = (*IO)(nil)
)

// IO is a user-mode network as a virtio-net PacketIO: frames the guest
// sends (with their virtio-net header) go into the stack, frames the stack
// sends come out with a header that asks nothing of the guest.
type IO struct {
	cfg   Config
	stack *stack.Stack
	link  *channel.Endpoint
	wake  chan struct{}
	local chan []byte // frames this package makes itself (DHCP replies)
	fwd   *forwarder
	hfwd  []*hostForward

	mu     sync.Mutex
	hdrLen int
	intr   chan struct{} // closed by Interrupt

	txMu  sync.Mutex // one transmit at a time: txBuf is reused
	txBuf []byte

	closeOnce sync.Once
}

// New starts a user-mode network: its stack, and a listener on the host
// for each HostFwd (a port that cannot be bound is an error here).
func New(cfg Config) (*IO, error) {
	if !cfg.Loopback.IsValid() {
		cfg.Loopback = netip.MustParseAddr("127.0.0.1")
	}
	if !cfg.Resolver.IsValid() {
		if a, ok := hostResolver("/etc/resolv.conf"); ok {
			cfg.Resolver = a
		}
	}
	if cfg.Log == nil {
		cfg.Log = log.New(os.Stderr, "", 0)
	}
	u := &IO{
		cfg:    cfg,
		wake:   make(chan struct{}, 1),
		local:  make(chan []byte, 16),
		intr:   make(chan struct{}),
		hdrLen: 12,
		txBuf:  make([]byte, 0, 65536),
	}
	var err error
	if u.stack, u.link, err = newStack(); err != nil {
		return nil, err
	}
	u.link.AddNotify(u)
	u.fwd = newForwarder(u)
	for _, f := range cfg.HostFwds {
		h, err := u.listen(f)
		if err != nil {
			u.Close()
			return nil, fmt.Errorf("hostfwd %s: %w", f, err)
		}
		u.hfwd = append(u.hfwd, h)
	}
	return u, nil
}

// WriteNotify implements channel.Notification: the stack queued a frame.
func (u *IO) WriteNotify() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// NoGSO implements vnet.NoGSO: the guest must send frames no larger than
// the MTU.
func (u *IO) NoGSO() {}

func (u *IO) interrupted() chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.intr
}

// ReadPacket implements vnet.PacketIO: the next frame for the guest,
// after a virtio-net header that asks for nothing (checksums are
// complete, no segmentation).
func (u *IO) ReadPacket(buf []byte) (int, error) {
	u.mu.Lock()
	hdr := u.hdrLen
	u.mu.Unlock()
	if len(buf) < hdr+maxFrame {
		return 0, fmt.Errorf("a %d-byte buffer holds no frame", len(buf))
	}
	clear(buf[:hdr])
	intr := u.interrupted()
	for {
		select {
		case f := <-u.local:
			return hdr + copy(buf[hdr:], f), nil
		default:
		}
		if pkt := u.link.Read(); pkt != nil {
			n := hdr
			for _, s := range pkt.AsSlices() {
				n += copy(buf[n:], s)
			}
			pkt.DecRef()
			return n, nil
		}
		select {
		case <-u.wake:
		case f := <-u.local:
			return hdr + copy(buf[hdr:], f), nil
		case <-intr:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// WritePacket implements vnet.PacketIO: the guest's frame, its checksum
// completed when the header asks for that, goes into the stack, or to the
// DHCP server. A frame the stack cannot take is dropped, as a network
// would; it never blocks.
func (u *IO) WritePacket(iov *virtio.IOVecs) error {
	u.mu.Lock()
	hdr := u.hdrLen
	u.mu.Unlock()
	u.txMu.Lock()
	defer u.txMu.Unlock()
	b := gather(u.txBuf[:0], iov)
	u.txBuf = b[:0]
	frame, err := guestFrame(b, hdr)
	if err != nil {
		return err
	}
	if reply := u.dhcp(frame); reply != nil {
		select {
		case u.local <- reply:
		default: // the guest is not reading: drop, as a network would
		}
		return nil
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	u.link.InjectInbound(0, pkt) // the Ethernet layer reads the type
	pkt.DecRef()
	return nil
}

// SetOffload implements vnet.PacketIO: frames to the guest never need
// its offloads, so any set will do.
func (u *IO) SetOffload(uint) error { return nil }

// SetHeaderSize implements vnet.PacketIO.
func (u *IO) SetHeaderSize(n int) error {
	if n != 10 && n != 12 {
		return fmt.Errorf("virtio-net header of %d bytes", n)
	}
	u.mu.Lock()
	u.hdrLen = n
	u.mu.Unlock()
	return nil
}

// Interrupt implements vnet.PacketIO.
func (u *IO) Interrupt() {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.intr:
	default:
		close(u.intr)
	}
}

// Resume implements vnet.PacketIO.
func (u *IO) Resume() {
	u.mu.Lock()
	defer u.mu.Unlock()
	select {
	case <-u.intr:
		u.intr = make(chan struct{})
	default:
	}
}

// Close implements vnet.PacketIO: the listeners close, every forwarded
// connection is cut, and the stack stops.
func (u *IO) Close() error {
	u.closeOnce.Do(func() {
		for _, h := range u.hfwd {
			h.close()
		}
		if u.fwd != nil {
			u.fwd.close()
		}
		if u.stack != nil {
			u.stack.Close()
			u.stack.Wait()
		}
		u.Interrupt()
	})
	return nil
}
