package usernet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

func randomBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// exchange sends out on c while reading what comes back, expecting
// want, then checks both ends closed cleanly.
func exchange(t *testing.T, c net.Conn, out, want []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		if cw, ok := c.(interface{ CloseWrite() error }); ok && err == nil {
			err = cw.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("received %d bytes that are not the %d sent", len(got), len(want))
	}
}

// serveOnce accepts one connection on l and exchanges: out sent, want
// expected.
func serveOnce(t *testing.T, l net.Listener, out, want []byte) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.Close()
		exchange(t, c, out, want)
	}()
	return done
}

// TestTCPToHostLoopback: the guest's connection to 10.0.2.2:PORT reaches
// a listener on the host's 127.0.0.1:PORT, and 4 MiB cross each way.
func TestTCPToHostLoopback(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	u := newTestIO(t, Config{})
	g := wireGuest(t, u, GuestIP)
	up, down := randomBytes(1, 4<<20), randomBytes(2, 4<<20)
	done := serveOnce(t, l, down, up)
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.s, tcpip.FullAddress{NIC: 1, Addr: addr(GatewayIP), Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatalf("the guest could not connect to 10.0.2.2:%d: %v", port, err)
	}
	defer c.Close()
	exchange(t, c, up, down)
	<-done
}

// TestTCPRefused: a port nothing listens on is refused (a reset), and so
// is an address inside the guest's network that is nobody.
func TestTCPRefused(t *testing.T) {
	l, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	u := newTestIO(t, Config{})
	g := wireGuest(t, u, GuestIP)
	for _, a := range []netip.Addr{GatewayIP, netip.MustParseAddr("10.0.2.77")} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := gonet.DialContextTCP(ctx, g.s, tcpip.FullAddress{NIC: 1, Addr: addr(a), Port: port}, ipv4.ProtocolNumber)
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil || timedOut {
			t.Errorf("connecting to %s:%d: %v, want refused", a, port, err)
		}
	}
}

// TestHostFwdTCP: a connection to the forwarded host port reaches the
// guest's listener, and 4 MiB cross each way.
func TestHostFwdTCP(t *testing.T) {
	u := newTestIO(t, Config{HostFwds: []HostFwd{{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestAddr: GuestIP, GuestPort: 8080}}})
	g := wireGuest(t, u, GuestIP)
	l, err := gonet.ListenTCP(g.s, tcpip.FullAddress{NIC: 1, Addr: addr(GuestIP), Port: 8080}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	up, down := randomBytes(3, 4<<20), randomBytes(4, 4<<20)
	done := serveOnce(t, l, down, up)
	c, err := net.DialTimeout("tcp4", u.hfwd[0].tcp.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c, up, down)
	<-done
}

// TestHostFwdNobodyListens: a forwarded connection the guest refuses is
// closed on the host.
func TestHostFwdNobodyListens(t *testing.T) {
	u := newTestIO(t, Config{HostFwds: []HostFwd{{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestAddr: GuestIP, GuestPort: 8081}}})
	wireGuest(t, u, GuestIP)
	c, err := net.DialTimeout("tcp4", u.hfwd[0].tcp.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("read %d bytes, %v; want the connection closed", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// udpEcho answers each datagram on 127.0.0.1 with "echo:" and it.
func udpEcho(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			c.WriteToUDP(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { c.Close() })
	return c
}

// TestUDPFlowsAndDNS: a datagram to 10.0.2.2:PORT reaches the host's
// loopback and its answer comes back; one to 10.0.2.3:53 goes to the
// resolver.
func TestUDPFlowsAndDNS(t *testing.T) {
	echo := udpEcho(t)
	port := uint16(echo.LocalAddr().(*net.UDPAddr).Port)
	u := newTestIO(t, Config{Resolver: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)})
	g := wireGuest(t, u, GuestIP)
	for _, dst := range []tcpip.FullAddress{{NIC: 1, Addr: addr(GatewayIP), Port: port}, {NIC: 1, Addr: addr(DNSIP), Port: 53}} {
		c, err := gonet.DialUDP(g.s, nil, &dst, ipv4.ProtocolNumber)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], []byte("echo:hello")) {
			t.Errorf("to %s:%d: %q, %v; want the echo", dst.Addr, dst.Port, buf[:n], err)
		}
		c.Close()
	}
}

// TestHostFwdUDP: datagrams to the forwarded host port reach the guest's
// socket, and its answers come back to the sender.
func TestHostFwdUDP(t *testing.T) {
	u := newTestIO(t, Config{HostFwds: []HostFwd{{UDP: true, HostAddr: netip.MustParseAddr("127.0.0.1"), GuestAddr: GuestIP, GuestPort: 5353}}})
	g := wireGuest(t, u, GuestIP)
	gc, err := gonet.DialUDP(g.s, &tcpip.FullAddress{NIC: 1, Addr: addr(GuestIP), Port: 5353}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := gc.ReadFrom(buf)
			if err != nil {
				return
			}
			gc.WriteTo(append([]byte("guest:"), buf[:n]...), from)
		}
	}()
	c, err := net.Dial("udp4", u.hfwd[0].udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	c.Write([]byte("ping"))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "guest:ping" {
		t.Errorf("got %q, %v; want the guest's answer", buf[:n], err)
	}
}
