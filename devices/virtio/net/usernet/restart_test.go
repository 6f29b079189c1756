package usernet

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// TestRestartResetsGuestConnections: a restored machine's user network is
// started afresh, not saved. The guest's connection through the old one
// is reset when the guest next uses it (the new stack answers a segment
// of a connection it does not know with a reset), and a new connection
// works.
func TestRestartResetsGuestConnections(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	dial := func(g *testGuest) (*gonet.TCPConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return gonet.DialContextTCP(ctx, g.s, tcpip.FullAddress{NIC: 1, Addr: addr(GatewayIP), Port: port}, ipv4.ProtocolNumber)
	}
	g := wireGuest(t, newTestIO(t, Config{}), GuestIP)
	old, err := dial(g)
	if err != nil {
		t.Fatalf("connecting through the first network: %v", err)
	}
	defer old.Close()
	host := <-accepted
	defer host.Close()
	if _, err := old.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}

	g.moveTo(t, newTestIO(t, Config{}))
	old.SetDeadline(time.Now().Add(10 * time.Second))
	old.Write([]byte("after the restore"))
	_, err = old.Read(make([]byte, 16))
	if err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("the old connection after the restart: %v, want a reset", err)
	}
	c, err := dial(g)
	if err != nil {
		t.Fatalf("a new connection after the restart: %v", err)
	}
	defer c.Close()
	h2 := <-accepted
	defer h2.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	h2.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 3)
	if _, err := c.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(h2, buf); err != nil || string(buf) != "new" {
		t.Fatalf("the host read %q, %v", buf, err)
	}
	if _, err := h2.Write([]byte("ack")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ack" {
		t.Fatalf("the guest read %q, %v", buf, err)
	}
}
