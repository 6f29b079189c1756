package symbols

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on a System.map, far above a real kernel's (a few hundred
// thousand lines of under a hundred bytes), so that a hostile or wrong
// file cannot make the VMM allocate without end.
const (
	maxMapLine    = 4096
	maxMapSymbols = 1 << 23
)

// parseSystemMap reads nm-style lines, "ffff800008010000 T _text". Blank
// lines are skipped. If the first line is not of that form, the file is
// said to be neither a System.map nor an ELF file; a later bad line is
// named by its number.
func parseSystemMap(r io.Reader) (*table, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxMapLine)
	var syms []sym
	lineNo, parsed := 0, 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		s, keep, err := parseMapLine(line)
		if err != nil {
			if parsed == 0 {
				return nil, fmt.Errorf("%w: neither an ELF file nor a System.map (line %d: %s: %.60q)", ErrFormat, lineNo, err, line)
			}
			return nil, fmt.Errorf("%w: System.map line %d: %s: %.60q", ErrFormat, lineNo, err, line)
		}
		parsed++
		if !keep {
			continue
		}
		if len(syms) >= maxMapSymbols {
			return nil, fmt.Errorf("%w: System.map has more than %d symbols", ErrFormat, maxMapSymbols)
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: System.map line %d is longer than %d bytes", ErrFormat, lineNo+1, maxMapLine)
		}
		return nil, fmt.Errorf("reading System.map: %w", err)
	}
	if parsed == 0 {
		return nil, fmt.Errorf("%w: the file is empty: neither an ELF file nor a System.map", ErrFormat)
	}
	return finish(syms, "System.map")
}

// parseMapLine parses one line. keep is false for a well-formed line that
// names no address in the kernel image: absolute and undefined symbols,
// address 0, ARM mapping symbols ($x, $d).
func parseMapLine(line string) (s sym, keep bool, err error) {
	f := strings.Fields(line)
	// A fourth field is /proc/kallsyms' [module], accepted so that a copy
	// of it works too.
	if len(f) != 3 && !(len(f) == 4 && strings.HasPrefix(f[3], "[") && strings.HasSuffix(f[3], "]")) {
		return sym{}, false, fmt.Errorf("%d fields, want \"address type name\"", len(f))
	}
	if len(f[0]) > 16 {
		return sym{}, false, errors.New("address longer than 16 hex digits")
	}
	addr, err := strconv.ParseUint(f[0], 16, 64)
	if err != nil {
		return sym{}, false, errors.New("address not hexadecimal")
	}
	if len(f[1]) != 1 || !isTypeLetter(f[1][0]) {
		return sym{}, false, errors.New("type is not one nm letter")
	}
	name, c := f[2], f[1][0]
	s = sym{name: name, addr: addr, rank: mapRank(c)}
	switch c {
	case 'a', 'A', 'U', 'N', 'n', '?', '-':
		// Absolute values, undefined references and debugging
		// symbols are not places in the image.
		return s, false, nil
	}
	// Address 0 is an undefined weak symbol; $x and $d are ARM mapping
	// symbols, which name no function.
	if addr == 0 || strings.HasPrefix(name, "$") {
		return s, false, nil
	}
	return s, true, nil
}

func isTypeLetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '?' || c == '-'
}

// mapRank orders the symbols at one address: text over the rest, global
// (upper case) over local.
func mapRank(c byte) int8 {
	var r int8
	if c == 't' || c == 'T' {
		r += 2
	}
	if c >= 'A' && c <= 'Z' {
		r++
	}
	return r
}
