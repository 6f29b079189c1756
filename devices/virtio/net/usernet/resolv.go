package usernet

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
)

// hostResolver is the first IPv4 nameserver in a resolv.conf file.
func hostResolver(path string) (netip.AddrPort, bool) {
	f, err := os.Open(path)
	if err != nil {
		return netip.AddrPort{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() {
			return netip.AddrPortFrom(a, 53), true
		}
	}
	return netip.AddrPort{}, false
}
