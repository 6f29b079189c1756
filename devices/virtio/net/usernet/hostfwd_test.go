package usernet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseHostFwd(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	any := netip.IPv4Unspecified()
	for _, c := range []struct {
		in   string
		want HostFwd
	}{
		{"tcp::2222-:22", HostFwd{HostAddr: any, HostPort: 2222, GuestAddr: GuestIP, GuestPort: 22}},
		{":2222-:22", HostFwd{HostAddr: any, HostPort: 2222, GuestAddr: GuestIP, GuestPort: 22}},
		{"tcp:127.0.0.1:8080-10.0.2.15:80", HostFwd{HostAddr: lo, HostPort: 8080, GuestAddr: GuestIP, GuestPort: 80}},
		{"udp:127.0.0.1:5353-:53", HostFwd{UDP: true, HostAddr: lo, HostPort: 5353, GuestAddr: GuestIP, GuestPort: 53}},
		{"tcp::1-10.0.2.20:65535", HostFwd{HostAddr: any, HostPort: 1, GuestAddr: netip.MustParseAddr("10.0.2.20"), GuestPort: 65535}},
	} {
		got, err := ParseHostFwd(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseHostFwd(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, why string }{
		{"tcp::2222", "want"},
		{"sctp::1-:2", "protocol"},
		{"tcp::0-:22", "host port"},
		{"tcp::65536-:22", "host port"},
		{"tcp::22-:x", "guest port"},
		{"tcp:host:22-:22", "host address"},
		{"tcp:::1:22-:22", "want"},
		{"tcp::22-10.0.3.15:22", "guest address"},
		{"tcp::22-10.0.2.2:22", "guest address"},
		{"tcp::22-22", "want"},
		{"", "want"},
	} {
		if _, err := ParseHostFwd(c.in); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseHostFwd(%q): %v, want an error about %s", c.in, err, c.why)
		}
	}
}

// TestHostTarget: where the guest's connections go on the host (nothing
// is dialled here).
func TestHostTarget(t *testing.T) {
	res := netip.MustParseAddrPort("192.0.2.53:53")
	u := &IO{cfg: Config{Loopback: netip.MustParseAddr("127.0.0.1"), Resolver: res}}
	f := &forwarder{u: u}
	for _, c := range []struct {
		dst  string
		port uint16
		want string // "" refused
	}{
		{"10.0.2.2", 8080, "127.0.0.1:8080"},
		{"10.0.2.3", 53, "192.0.2.53:53"},
		{"10.0.2.3", 80, ""},
		{"10.0.2.15", 80, ""},
		{"10.0.2.99", 80, ""},
		{"127.0.0.1", 80, ""},
		{"169.254.1.1", 80, ""},
		{"224.0.0.1", 80, ""},
		{"255.255.255.255", 67, ""},
		{"0.0.0.0", 80, ""},
		{"198.51.100.7", 443, "198.51.100.7:443"},
	} {
		got, ok := f.hostTarget(netip.MustParseAddr(c.dst), c.port)
		if (c.want == "") == ok || ok && got.String() != c.want {
			t.Errorf("%s:%d goes to %v (%v), want %q", c.dst, c.port, got, ok, c.want)
		}
	}
}
