package machine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// memory is a parsed Memory, kvmtool's -m SIZE[@ADDR]: SIZE in MiB unless
// it has a unit, and ADDR, the guest-physical start of RAM, read the same
// way (kvmtool's builtin-run.c, parse_mem_option) except that a hex ADDR
// without a unit is a byte address, as gokvm has always read it (kvmtool
// releases before 2025 refuse hex).
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
		base, err := parseAddress(addrStr)
		if err != nil {
			return m, err
		}
		m.base, m.baseSet = base, true
	}
	return m, nil
}

// sizeUnits are kvmtool's units, upper or lower case: bytes, KiB, MiB,
// GiB, TiB, PiB.
var sizeUnits = map[byte]uint{'b': 0, 'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50}

func parseSize(s string) (uint64, error) {
	v, err := parseQuantity(strings.TrimSpace(s), false)
	if errors.Is(err, errTooLarge) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if err != nil || v == 0 {
		return 0, fmt.Errorf("size %q is not a positive number (MiB, or with a B/K/M/G/T/P unit)", s)
	}
	return v, nil
}

func parseAddress(s string) (uint64, error) {
	v, err := parseQuantity(s, true)
	if err != nil {
		return 0, fmt.Errorf("address %q is not a number (a hex byte address such as 0x80000000, or MiB or with a unit as kvmtool reads it: 2048, 2G)", s)
	}
	return v, nil
}

// errTooLarge is a quantity that does not fit in 64 bits.
var errTooLarge = errors.New("too large")

// parseQuantity reads a decimal or 0x-hex number and an optional unit
// (sizeUnits; MiB without one). With hexIsBytes, a hex number without a
// unit is bytes.
func parseQuantity(s string, hexIsBytes bool) (uint64, error) {
	digits, base := s, 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		digits, base = s[2:], 16
	}
	end := 0
	for end < len(digits) && isDigit(digits[end], base) {
		end++
	}
	v, err := strconv.ParseUint(digits[:end], base, 64)
	if err != nil {
		return 0, err
	}
	unit := digits[end:]
	shift := uint(20)
	switch {
	case len(unit) == 1:
		var ok bool
		if shift, ok = sizeUnits[unit[0]|0x20]; !ok {
			return 0, fmt.Errorf("unknown unit %q", unit)
		}
	case len(unit) > 1:
		return 0, fmt.Errorf("unknown unit %q", unit)
	case base == 16 && hexIsBytes:
		shift = 0
	}
	if v > (^uint64(0))>>shift {
		return 0, errTooLarge
	}
	return v << shift, nil
}

// isDigit says whether c is a digit in base 10 or 16. 'b' and 'B' are hex
// digits, so a hex number cannot take the bytes unit (as in kvmtool).
func isDigit(c byte, base int) bool {
	switch {
	case '0' <= c && c <= '9':
		return true
	case base == 16:
		c |= 0x20
		return 'a' <= c && c <= 'f'
	}
	return false
}
