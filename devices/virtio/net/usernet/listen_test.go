package usernet

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
)

// failingListener fails its first fail accepts with EMFILE, as a process
// out of descriptors does.
type failingListener struct {
	tcpListener
	mu    sync.Mutex
	fail  int
	fails int
}

func (l *failingListener) AcceptTCP() (*net.TCPConn, error) {
	l.mu.Lock()
	if l.fails < l.fail {
		l.fails++
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.tcpListener.AcceptTCP()
}

// TestHostFwdOutlivesFailedAccepts: a forwarded port whose accepts fail
// for a while (the host out of descriptors) goes on forwarding once they
// work again; it used to stop accepting for good, the port still bound.
func TestHostFwdOutlivesFailedAccepts(t *testing.T) {
	u := newTestIO(t, Config{})
	g := wireGuest(t, u, GuestIP)
	l, err := gonet.ListenTCP(g.s, tcpip.FullAddress{NIC: 1, Addr: addr(GuestIP), Port: 8082}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("from the guest"))
		c.Close()
	}()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{tcpListener: ln, fail: 4}
	h := &hostForward{rule: HostFwd{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestAddr: GuestIP, GuestPort: 8082}, tcp: fl, stop: make(chan struct{})}
	u.startTCP(h)
	defer h.close()
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "from the guest" {
		t.Errorf("through the forward after failed accepts: %q %v", got, err)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.fails != 4 {
		t.Errorf("%d accepts failed, want 4", fl.fails)
	}
}

// TestHostFwdCloseEndsABackingOffLoop: a forward whose accepts keep
// failing still closes at once.
func TestHostFwdCloseEndsABackingOffLoop(t *testing.T) {
	u := newTestIO(t, Config{})
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	h := &hostForward{rule: HostFwd{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestAddr: GuestIP, GuestPort: 8083}, tcp: &failingListener{tcpListener: ln, fail: 1 << 30}, stop: make(chan struct{})}
	u.startTCP(h)
	time.Sleep(400 * time.Millisecond) // into a wait of 320 ms or more
	start := time.Now()
	h.close()
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("close took %v with the accept loop backing off", d)
	}
}
