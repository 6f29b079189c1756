package usernet

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HostFwd forwards a host port into the guest, as QEMU's
// hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT does.
type HostFwd struct {
	UDP       bool
	HostAddr  netip.Addr // 0.0.0.0 when the rule names none (QEMU's INADDR_ANY)
	HostPort  uint16
	GuestAddr netip.Addr // GuestIP when the rule names none
	GuestPort uint16
}

// String is the rule in QEMU's spelling.
func (f HostFwd) String() string {
	proto := "tcp"
	if f.UDP {
		proto = "udp"
	}
	return fmt.Sprintf("%s:%s:%d-%s:%d", proto, f.HostAddr, f.HostPort, f.GuestAddr, f.GuestPort)
}

// ParseHostFwd reads one rule: [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT.
// The protocol defaults to tcp, HOSTADDR to 0.0.0.0 (every host
// address, as QEMU), GUESTADDR to the address DHCP gives the guest. Ports
// are 1 to 65535; GUESTADDR must be in the guest's network.
func ParseHostFwd(s string) (HostFwd, error) {
	f := HostFwd{HostAddr: netip.IPv4Unspecified(), GuestAddr: GuestIP}
	host, guest, ok := strings.Cut(s, "-")
	if !ok {
		return f, fmt.Errorf("%q: want [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", s)
	}
	parts := strings.Split(host, ":")
	switch len(parts) {
	case 3:
		switch parts[0] {
		case "", "tcp":
		case "udp":
			f.UDP = true
		default:
			return f, fmt.Errorf("%q: protocol %q: want tcp or udp", s, parts[0])
		}
		parts = parts[1:]
	case 2:
	default:
		return f, fmt.Errorf("%q: want [tcp|udp]:[HOSTADDR]:HOSTPORT before the -", s)
	}
	var err error
	if parts[0] != "" {
		if f.HostAddr, err = netip.ParseAddr(parts[0]); err != nil || !f.HostAddr.Is4() {
			return f, fmt.Errorf("%q: host address %q is not an IPv4 address", s, parts[0])
		}
	}
	if f.HostPort, err = parsePort(parts[1]); err != nil {
		return f, fmt.Errorf("%q: host port: %v", s, err)
	}
	gaddr, gport, ok := strings.Cut(guest, ":")
	if !ok {
		return f, fmt.Errorf("%q: want [GUESTADDR]:GUESTPORT after the -", s)
	}
	if gaddr != "" {
		a, err := netip.ParseAddr(gaddr)
		if err != nil || !Subnet.Contains(a) || a == GatewayIP || a == DNSIP || a == Subnet.Addr() || a == broadcast {
			return f, fmt.Errorf("%q: guest address %q is not a guest's address in %s", s, gaddr, Subnet)
		}
		f.GuestAddr = a
	}
	if f.GuestPort, err = parsePort(gport); err != nil {
		return f, fmt.Errorf("%q: guest port: %v", s, err)
	}
	return f, nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%q is not a port from 1 to 65535", s)
	}
	return uint16(p), nil
}
