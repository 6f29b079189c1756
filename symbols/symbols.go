// Package symbols names guest kernel addresses for a hang diagnosis: a
// System.map or an ELF vmlinux gives symbols, a vmlinux with DWARF also
// gives source lines. Addresses print as the kernel prints them in its own
// backtraces, name+0x1c/0x40 (offset in the symbol / its size).
//
// The file is the user's, but it is parsed as untrusted input all the same
// (fuzzed, with bounded allocation): a wrong --symbols must end in an
// error, never in a crash of the VMM that runs the guest.
//
// # KASLR
//
// A kernel with CONFIG_RANDOMIZE_BASE runs at its link address plus a
// random slide. A Table is in link addresses; WithOffset gives a view of it
// slid by delta, and SlideFor computes delta from one symbol whose runtime
// address the caller knows. On arm64 that is the exception vector table:
// the guest's VBAR_EL1 points to `vectors` (arm64.KASLRSlide does this,
// allowing for the Spectre-BHB vector copies).
package symbols

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// ErrFormat is wrapped by every "this file is not a usable symbol table".
var ErrFormat = errors.New("not a usable symbol table")

// Symbol is a named address range.
type Symbol struct {
	Name string
	// Addr is where the symbol starts (slid by the Table's offset).
	Addr uint64
	// Size is the ELF size or, where the file gives none (System.map, an
	// assembler label), the gap to the next symbol, as kallsyms does.
	// 0 for the last symbol of a System.map.
	Size uint64
	// Offset is how far into the symbol the looked-up address is.
	Offset uint64
}

// String formats the symbol as the kernel's %pS does: name+0x1c/0x40.
func (s Symbol) String() string {
	if s.Size == 0 {
		return fmt.Sprintf("%s+%#x", s.Name, s.Offset)
	}
	return fmt.Sprintf("%s+%#x/%#x", s.Name, s.Offset, s.Size)
}

// Table is a kernel's symbols, sorted by address, possibly slid
// (WithOffset). Its methods are safe for concurrent use.
type Table struct {
	*table
	delta uint64
}

// table is what all the slid views of one file share.
type table struct {
	// syms are sorted by Addr, one per address, with their sizes filled
	// in; link addresses.
	syms []sym
	// others are the symbols that lost their address to a better one,
	// kept for Find (vectors shares its address with
	// __exception_text_start, say).
	others []sym
	// kind says what the file was, for messages.
	kind string
	// lines is nil when the file has no DWARF line table.
	lines *lineTable
	// file stays open while lines may still need to read it.
	file io.Closer
}

// sym is a symbol as stored: name, start, size.
type sym struct {
	name       string
	addr, size uint64
	// rank says which of the symbols at one address names it: the
	// highest (a global function over a local label, say).
	rank int8
}

// Load reads a System.map or an ELF vmlinux. An ELF file stays open (its
// DWARF line table is decoded only when Line first needs it): Close the
// Table when done.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("symbols: %w", err)
	}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if n == 4 && bytes.Equal(magic[:], []byte("\x7fELF")) {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("symbols: %s: %w", path, err)
		}
		t, err := parseELF(f, st.Size())
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("symbols: %s: %w", path, err)
		}
		t.file = f
		return &Table{table: t}, nil
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("symbols: %s: %w", path, err)
	}
	t, err := parseSystemMap(f)
	if err != nil {
		return nil, fmt.Errorf("symbols: %s: %w", path, err)
	}
	return &Table{table: t}, nil
}

// Close lets go of the file behind an ELF table (every slid view shares
// it); Line answers nothing afterwards.
func (t *Table) Close() error {
	if t == nil || t.table == nil || t.file == nil {
		return nil
	}
	if t.lines != nil {
		t.lines.close()
	}
	return t.file.Close()
}

// Kind says what the table was read from: "System.map" or "ELF".
func (t *Table) Kind() string { return t.kind }

// Len is the number of symbols.
func (t *Table) Len() int { return len(t.syms) }

// HasLines reports whether Line can answer (the ELF file has a DWARF line
// table).
func (t *Table) HasLines() bool { return t.lines != nil }

// Offset is the slide this view adds to link addresses.
func (t *Table) Offset() uint64 { return t.delta }

// WithOffset is a view of the same symbols slid by delta (added, modulo
// 2^64, to every link address): the guest kernel's KASLR slide. The views
// share the file; closing one closes all.
func (t *Table) WithOffset(delta uint64) *Table {
	return &Table{table: t.table, delta: delta}
}

// Find returns the symbol called name (slid), if the table has it. Names
// are searched linearly: this is for a few well-known symbols, not for
// every frame.
func (t *Table) Find(name string) (Symbol, bool) {
	for _, list := range [][]sym{t.syms, t.others} {
		for _, s := range list {
			if s.name == name {
				return Symbol{Name: s.name, Addr: s.addr + t.delta, Size: s.size}, true
			}
		}
	}
	return Symbol{}, false
}

// SlideFor returns the slide that puts symbol name at runtime address
// addr, for WithOffset. The view's own offset does not matter.
func (t *Table) SlideFor(name string, addr uint64) (uint64, error) {
	s, ok := t.Find(name)
	if !ok {
		return 0, fmt.Errorf("symbols: no symbol %q in the %s", name, t.kind)
	}
	return addr - (s.Addr - t.delta), nil
}

// Lookup names the symbol that holds addr (a runtime address: the view's
// offset is taken away first). It fails for an address before the first
// symbol, past the end of a sized symbol with no other after it, or past
// the last symbol of a System.map.
func (t *Table) Lookup(addr uint64) (Symbol, bool) {
	if t == nil || t.table == nil {
		return Symbol{}, false
	}
	a := addr - t.delta
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > a }) - 1
	if i < 0 {
		return Symbol{}, false
	}
	s := t.syms[i]
	off := a - s.addr
	if off >= s.size && !(s.size == 0 && off == 0) {
		return Symbol{}, false
	}
	return Symbol{Name: s.name, Addr: s.addr + t.delta, Size: s.size, Offset: off}, true
}

// Line gives the source file and line of addr (runtime) from the DWARF
// line table, decoding the compilation unit that holds it on first use.
func (t *Table) Line(addr uint64) (file string, line int, ok bool) {
	if t == nil || t.table == nil || t.lines == nil {
		return "", 0, false
	}
	return t.lines.lookup(addr - t.delta)
}

// finish sorts syms, keeps one symbol per address (the highest rank, then
// a sized one, then the first name, so that the choice does not depend on
// the file's order), drops unsized labels inside a sized symbol, and gives
// every unsized symbol the gap to the next as its size (the last keeps 0).
func finish(syms []sym, kind string) (*table, error) {
	sort.Slice(syms, func(i, j int) bool {
		a, b := syms[i], syms[j]
		switch {
		case a.addr != b.addr:
			return a.addr < b.addr
		case a.rank != b.rank:
			return a.rank > b.rank
		case (a.size == 0) != (b.size == 0):
			return a.size != 0
		}
		return a.name < b.name
	})
	out := syms[:0]
	var others []sym
	var end uint64 // the end of the furthest-reaching sized symbol so far
	for _, s := range syms {
		if n := len(out); n > 0 && out[n-1].addr == s.addr {
			others = append(others, s) // the better one came first
			continue
		}
		if s.size == 0 && s.addr < end {
			others = append(others, s) // a label inside a function: name the function
			continue
		}
		if s.size != 0 {
			e := s.addr + s.size
			if e < s.addr {
				e = ^uint64(0)
			}
			end = max(end, e)
		}
		out = append(out, s)
	}
	for i := range out {
		if out[i].size == 0 && i+1 < len(out) {
			out[i].size = out[i+1].addr - out[i].addr
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the %s has no usable symbols", ErrFormat, kind)
	}
	return &table{syms: out, others: others, kind: kind}, nil
}
