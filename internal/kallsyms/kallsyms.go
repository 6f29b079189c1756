// Package kallsyms reads the symbol table an arm64 Linux kernel Image
// carries for its own backtraces (CONFIG_KALLSYMS with
// CONFIG_KALLSYMS_BASE_RELATIVE): the functions' names and link-time
// addresses, what a System.map lists for them. Debian's linux-image
// packages ship a placeholder System.map (the real one is in the 800 MB
// -dbg package), so the tests build theirs from the Image.
//
// scripts/kallsyms writes the tables into .rodata, each at an 8-byte
// aligned label: kallsyms_offsets (one 32-bit offset per symbol, in address
// order), kallsyms_relative_base (the address the offsets count from),
// kallsyms_num_syms, kallsyms_names (per symbol a length and that many
// token numbers, the first character of the expansion being the nm type),
// kallsyms_markers (the names' offset every 256 symbols), optionally
// kallsyms_seqs_of_names, kallsyms_token_table (256 NUL-terminated
// strings) and kallsyms_token_index (their 16-bit offsets). Linux 6.4
// moved the offsets and relative base after the token index; both orders
// are accepted. None of the labels survive in an Image, so the tables are
// found by their shape, from the token index back, and each found table
// checks the others (the names must end where the markers say, in the
// right number).
//
// A relocatable kernel is linked with --no-apply-dynamic-relocs: the
// relative base, an address, reads 0 in the Image and its value is the
// addend of the R_AARCH64_RELATIVE relocation for it in the Image's
// .rela.dyn, which is found the same way.
package kallsyms

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Symbol is one kallsyms entry.
type Symbol struct {
	Addr uint64
	Type byte // nm's type letter: 't' or 'T' for text
	Name string
}

var le = binary.LittleEndian

const (
	maxSyms = 1 << 21
	// rAarch64Relative is ELF's R_AARCH64_RELATIVE.
	rAarch64Relative = 1027
)

type tables struct {
	img     []byte
	tokens  [256]string
	tokOff  int // kallsyms_token_table
	idxOff  int // kallsyms_token_index
	markOff int // kallsyms_markers
	marks   []uint32
	numOff  int // kallsyms_num_syms
	names   []string
}

// Read returns the symbols of the arm64 kernel Image img, in address order.
func Read(img []byte) ([]Symbol, error) {
	if len(img) < 64 || string(img[56:60]) != "ARM\x64" {
		return nil, errors.New("kallsyms: not an arm64 kernel Image (no ARM\\x64 magic)")
	}
	var errs []string
	for _, idx := range tokenIndexes(img) {
		t := &tables{img: img, idxOff: idx}
		syms, err := t.read()
		if err == nil {
			return syms, nil
		}
		errs = append(errs, fmt.Sprintf("token index at %#x: %v", idx, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("kallsyms: no kallsyms_token_index in the Image (CONFIG_KALLSYMS off?)")
	}
	return nil, fmt.Errorf("kallsyms: %s", strings.Join(errs, "; "))
}

// WriteMap writes syms as System.map lines: a 16-digit hex address, the
// type letter and the name.
func WriteMap(w io.Writer, syms []Symbol) error {
	bw := bufio.NewWriter(w)
	for _, s := range syms {
		fmt.Fprintf(bw, "%016x %c %s\n", s.Addr, s.Type, s.Name)
	}
	return bw.Flush()
}

// tokenIndexes returns the 8-aligned offsets where 256 16-bit values start
// at 0 and strictly increase, as kallsyms_token_index does.
func tokenIndexes(img []byte) []int {
	var out []int
	for q := 0; q+512 <= len(img); q += 8 {
		if img[q] != 0 || img[q+1] != 0 {
			continue
		}
		if v := le.Uint16(img[q+2:]); v < 2 || v > 64 {
			continue
		}
		ok := true
		for i := 1; i < 256 && ok; i++ {
			ok = le.Uint16(img[q+2*i:]) > le.Uint16(img[q+2*i-2:])
		}
		if ok && le.Uint16(img[q+510:]) < 1<<14 {
			out = append(out, q)
		}
	}
	return out
}

func (t *tables) read() ([]Symbol, error) {
	if err := t.findTokens(); err != nil {
		return nil, err
	}
	if err := t.findNames(); err != nil {
		return nil, err
	}
	offs, base, err := t.findOffsets()
	if err != nil {
		return nil, err
	}
	syms := make([]Symbol, len(t.names))
	for i, n := range t.names {
		if n == "" {
			return nil, fmt.Errorf("symbol %d has an empty name", i)
		}
		syms[i] = Symbol{Addr: base + uint64(offs[i]), Type: n[0], Name: n[1:]}
	}
	return syms, nil
}

// findTokens finds the token table that ends (8-aligned) at the token
// index and whose strings start where the index says.
func (t *tables) findTokens() error {
	img, q := t.img, t.idxOff
	var idx [256]int
	for i := range idx {
		idx[i] = int(le.Uint16(img[q+2*i:]))
	}
	// The last token ends, NUL included, at most 7 bytes of padding
	// before the index.
	for start := (q - idx[255] - 2) &^ 7; start >= 0 && start >= q-idx[255]-256; start -= 8 {
		if t.tokensAt(start, idx) {
			t.tokOff = start
			return nil
		}
	}
	return errors.New("no token table before it")
}

func (t *tables) tokensAt(start int, idx [256]int) bool {
	img, q := t.img, t.idxOff
	for i := range idx {
		p := start + idx[i]
		if i > 0 && img[p-1] != 0 {
			return false
		}
		end := p
		for end < q && img[end] != 0 {
			end++
		}
		if end == p || end >= q || (i < 255 && end != start+idx[i+1]-1) {
			return false
		}
		t.tokens[i] = string(img[p:end])
		if i == 255 {
			for _, b := range img[end:q] {
				if b != 0 {
					return false
				}
			}
		}
	}
	return true
}

// findNames finds kallsyms_markers (before the token table, possibly with
// kallsyms_seqs_of_names between them) and, before the markers,
// kallsyms_num_syms and kallsyms_names, and decodes the names.
func (t *tables) findNames() error {
	img := t.img
	lo := max(t.tokOff-(16<<20), 0)
	for p := (t.tokOff - 8) &^ 7; p >= lo; p -= 8 {
		if le.Uint32(img[p:]) != 0 {
			continue
		}
		marks := markersAt(img[p:t.tokOff])
		if len(marks) < 2 {
			continue
		}
		// What follows the markers may read as more of them.
		for m := len(marks); m >= 2 && m > len(marks)-8; m-- {
			if t.namesBefore(p, marks[:m]) {
				t.markOff, t.marks = p, marks[:m]
				return nil
			}
		}
	}
	return errors.New("no kallsyms_markers and kallsyms_names before the token table")
}

// markersAt returns the run of increasing 32-bit values at the start of
// b (which starts with 0), each step at most 256 symbols' worth.
func markersAt(b []byte) []uint32 {
	m := []uint32{0}
	for i := 4; i+4 <= len(b); i += 4 {
		v := le.Uint32(b[i:])
		if v <= m[len(m)-1] || v-m[len(m)-1] > 256*(2+255*2) {
			break
		}
		m = append(m, v)
	}
	return m
}

// namesBefore reports whether kallsyms_num_syms and kallsyms_names lie
// before markers at markOff: N symbols whose names, decoded, are where the
// markers say and end where the markers start (but for the padding).
func (t *tables) namesBefore(markOff int, marks []uint32) bool {
	img := t.img
	last := int(marks[len(marks)-1])
	// The last 256 (or fewer) names take at least 2 bytes each.
	for s := (markOff - last - 2) &^ 7; s >= 8 && s >= markOff-last-256*(2+255*2); s -= 8 {
		n := int(le.Uint32(img[s-8:]))
		if n == 0 || n > maxSyms || le.Uint32(img[s-4:]) != 0 {
			continue
		}
		if (n+255)/256 != len(marks) {
			continue
		}
		names, end, ok := t.decode(s, n, marks)
		if ok && end <= markOff && markOff-end < 8 {
			t.numOff, t.names = s-8, names
			return true
		}
	}
	return false
}

func (t *tables) decode(s, n int, marks []uint32) ([]string, int, bool) {
	img := t.img
	names := make([]string, n)
	off := s
	var sb strings.Builder
	for i := range n {
		if i%256 == 0 && uint32(off-s) != marks[i/256] {
			return nil, 0, false
		}
		if off >= len(img) {
			return nil, 0, false
		}
		l := int(img[off])
		off++
		if l&0x80 != 0 { // a big symbol: 7 bits here, the rest next
			if off >= len(img) {
				return nil, 0, false
			}
			l = l&0x7f | int(img[off])<<7
			off++
		}
		if l == 0 || off+l > t.tokOff {
			return nil, 0, false
		}
		sb.Reset()
		for _, b := range img[off : off+l] {
			sb.WriteString(t.tokens[b])
		}
		names[i] = sb.String()
		off += l
	}
	return names, off, true
}

// findOffsets returns kallsyms_offsets and kallsyms_relative_base, which
// are before kallsyms_num_syms (Linux up to 6.3) or after the token index
// (6.4 on). The offsets start at 0 (the base is the lowest address) and
// do not decrease.
func (t *tables) findOffsets() ([]uint32, uint64, error) {
	n := len(t.names)
	size := (4*n + 7) &^ 7
	var errs []string
	for _, c := range []struct{ offs, base int }{
		{t.numOff - 8 - size, t.numOff - 8},
		{t.idxOff + 512, t.idxOff + 512 + size},
	} {
		if c.offs < 0 || c.base+8 > len(t.img) {
			continue
		}
		offs := make([]uint32, n)
		ok := true
		for i := range offs {
			offs[i] = le.Uint32(t.img[c.offs+4*i:])
			if i > 0 && offs[i] < offs[i-1] {
				ok = false
				break
			}
		}
		if !ok || offs[0] != 0 || offs[n-1] == 0 {
			continue
		}
		base, err := t.relativeBase(c.base, offs)
		if err == nil {
			return offs, base, nil
		}
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		return nil, 0, errors.New("no kallsyms_offsets next to the other tables")
	}
	return nil, 0, errors.New(strings.Join(errs, "; "))
}

// relativeBase returns kallsyms_relative_base, stored at off: as is when
// not 0, else the addend of its relocation.
func (t *tables) relativeBase(off int, offs []uint32) (uint64, error) {
	if v := le.Uint64(t.img[off:]); v != 0 {
		return v, nil
	}
	return relocated(t.img, off, offs)
}

// relocated returns the addend of the R_AARCH64_RELATIVE relocation of
// the 64-bit word at Image offset off, the relative base of the symbol
// offsets offs. The Image's link address is not in its header, so the
// place of that relocation is not known: each relocation whose place is
// off from a 64 KiB-aligned base is a candidate, and the right one is the
// one under which the other relocations' addends (function pointers among
// them) land on symbols: tens of thousands of them in Debian's kernel,
// against a few thousand for the others.
func relocated(img []byte, off int, offs []uint32) (uint64, error) {
	type rela struct{ place, addend uint64 }
	var relas []rela
	for p := 0; p+24 <= len(img); p += 8 {
		if le.Uint64(img[p+8:]) == rAarch64Relative && le.Uint64(img[p:])&7 == 0 && le.Uint64(img[p:])>>48 == 0xffff {
			relas = append(relas, rela{le.Uint64(img[p:]), le.Uint64(img[p+16:])})
			p += 16
		}
	}
	if len(relas) == 0 {
		return 0, fmt.Errorf("the relative base at %#x reads 0 and the Image has no R_AARCH64_RELATIVE relocations", off)
	}
	at := make(map[uint32]bool, len(offs))
	for _, o := range offs {
		at[o] = true
	}
	var best, second int
	var base uint64
	for _, r := range relas {
		if (r.place-uint64(off))&0xffff != 0 {
			continue
		}
		n := 0
		for _, o := range relas {
			if d := o.addend - r.addend; d < 1<<32 && at[uint32(d)] {
				n++
			}
		}
		switch {
		case n > best:
			best, second, base = n, best, r.addend
		case n > second:
			second = n
		}
	}
	if best < 100 || best < 8*second {
		return 0, fmt.Errorf("the relative base at %#x reads 0 and no relocation of it stands out (%d and %d relocations land on symbols)", off, best, second)
	}
	return base, nil
}
