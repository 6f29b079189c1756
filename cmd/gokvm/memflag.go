package main

import (
	"fmt"
	"strconv"
	"strings"
)

// memSpec is -m SIZE[@ADDR]: SIZE in MiB unless it has a K, M, G or T
// suffix (kvmtool's spelling), ADDR the guest-physical start of RAM.
type memSpec struct {
	size    uint64
	base    uint64
	baseSet bool
}

func parseMem(s string) (memSpec, error) {
	var m memSpec
	sizeStr, addrStr, hasAddr := strings.Cut(s, "@")
	size, err := parseSize(sizeStr)
	if err != nil {
		return m, fmt.Errorf("-m %q: %v", s, err)
	}
	m.size = size
	if hasAddr {
		base, err := strconv.ParseUint(addrStr, 0, 64)
		if err != nil {
			return m, fmt.Errorf("-m %q: address %q is not a number", s, addrStr)
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
