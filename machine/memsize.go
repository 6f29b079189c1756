package machine

import (
	"fmt"
	"strconv"
	"strings"
)

// memory is a parsed Memory: SIZE in MiB unless it has a K, M, G or T
// suffix (kvmtool's spelling), optionally @ADDR, the guest-physical start
// of RAM.
type memory struct {
	size    uint64
	base    uint64
	baseSet bool
}

func parseMemory(s string) (memory, error) {
	var m memory
	sizeStr, addrStr, hasAddr := strings.Cut(s, "@")
	size, err := parseSize(sizeStr)
	if err != nil {
		return m, err
	}
	m.size = size
	if hasAddr {
		base, err := strconv.ParseUint(addrStr, 0, 64)
		if err != nil {
			return m, fmt.Errorf("address %q is not a number", addrStr)
		}
		m.base, m.baseSet = base, true
	}
	return m, nil
}

func parseSize(s string) (uint64, error) {
	shift := 20
	num := strings.TrimSpace(s)
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k', 'K':
			shift, num = 10, num[:n-1]
		case 'm', 'M':
			shift, num = 20, num[:n-1]
		case 'g', 'G':
			shift, num = 30, num[:n-1]
		case 't', 'T':
			shift, num = 40, num[:n-1]
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("size %q is not a positive number (MiB, or with a K/M/G/T suffix)", s)
	}
	if v > (^uint64(0))>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return v << shift, nil
}
