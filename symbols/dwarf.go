package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// maxCachedUnits bounds how many compilation units' decoded line tables
// are kept: a backtrace touches a few dozen units, and a large one decodes
// to some MiB.
const maxCachedUnits = 32

// lineTable answers address-to-line questions from an ELF file's DWARF.
// Nothing is decoded until the first question: then the debug sections are
// read (debug/dwarf wants them whole) and the compilation units' address
// ranges indexed; each unit's line program is decoded when an address in
// it is first asked about, and kept in a small cache.
type lineTable struct {
	mu     sync.Mutex
	f      *elf.File
	closed bool
	// Set by load, once.
	loaded bool
	err    error
	d      *dwarf.Data
	line   []byte // .debug_line, which d shares, for checkLineHeader
	units  []unitRange
	cus    []*dwarf.Entry
	cache  map[int][]lineRow
}

// unitRange is one address range of compilation unit cu (an index into
// lineTable.cus).
type unitRange struct {
	lo, hi uint64
	cu     int
}

// lineRow is one row of a decoded line program. end marks the first
// address after a sequence.
type lineRow struct {
	addr uint64
	file string
	line int
	end  bool
}

// newLineTable checks that f has a line table worth decoding later, and
// that its debug sections' sizes are within bounds; nil when there is no
// line table.
func newLineTable(f *elf.File, fileSize int64) (*lineTable, error) {
	// Legacy .zdebug sections (GNU's pre-SHF_COMPRESSED compression)
	// are not read: kernels compress with SHF_COMPRESSED.
	if f.Section(".debug_line") == nil || f.Section(".debug_info") == nil {
		return nil, nil
	}
	var total uint64
	for _, s := range f.Sections {
		if !strings.HasPrefix(s.Name, ".debug_") {
			continue
		}
		if s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_COMPRESSED == 0 && s.Size > uint64(fileSize) {
			return nil, fmt.Errorf("%w: ELF section %s claims %d bytes in a %d-byte file", ErrFormat, s.Name, s.Size, fileSize)
		}
		total += s.Size
		if total > maxDebugBytes || total < s.Size {
			return nil, fmt.Errorf("%w: the ELF file's debug sections claim more than %d bytes", ErrFormat, uint64(maxDebugBytes))
		}
	}
	return &lineTable{f: f}, nil
}

func (lt *lineTable) close() {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.closed = true
	lt.d, lt.line, lt.units, lt.cus, lt.cache = nil, nil, nil, nil, nil
}

// lookup answers for link address a.
func (lt *lineTable) lookup(a uint64) (file string, line int, ok bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.closed {
		return "", 0, false
	}
	if !lt.loaded {
		lt.loaded = true
		lt.err = guard(lt.load)
	}
	if lt.err != nil {
		return "", 0, false
	}
	cu := lt.unitOf(a)
	if cu < 0 {
		return "", 0, false
	}
	rows, hit := lt.cache[cu]
	if !hit {
		if err := guard(func() (err error) { rows, err = lt.decode(cu); return err }); err != nil {
			rows = nil // a bad unit answers nothing; the others still may
		}
		if len(lt.cache) >= maxCachedUnits {
			for k := range lt.cache {
				delete(lt.cache, k) // any one: a backtrace's units are few
				break
			}
		}
		lt.cache[cu] = rows
	}
	i := sort.Search(len(rows), func(i int) bool { return rows[i].addr > a }) - 1
	if i < 0 || rows[i].end || rows[i].line <= 0 {
		return "", 0, false
	}
	return rows[i].file, rows[i].line, true
}

// load reads the DWARF sections and indexes the compilation units by
// address range. It reads the sections itself, as elf.File.DWARF would
// (less the relocations of object files, which parseELF refuses), to keep
// .debug_line at hand for checkLineHeader.
func (lt *lineTable) load() error {
	sec := map[string][]byte{}
	for _, name := range []string{"abbrev", "info", "line", "ranges", "str", "addr", "line_str", "str_offsets", "rnglists"} {
		s := lt.f.Section(".debug_" + name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return fmt.Errorf("reading ELF section %s: %w", s.Name, err)
		}
		sec[name] = b
	}
	d, err := dwarf.New(sec["abbrev"], nil, nil, sec["info"], sec["line"], nil, sec["ranges"], sec["str"])
	if err != nil {
		return fmt.Errorf("reading DWARF: %w", err)
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := sec[name]; b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return fmt.Errorf("reading DWARF section .debug_%s: %w", name, err)
			}
		}
	}
	lt.d, lt.line, lt.cache = d, sec["line"], map[int][]lineRow{}
	// Each unit's first entry is read where its header says it is: a
	// Reader's SkipChildren would walk the last unit's tree recursively,
	// as deep as a hostile file nests it.
	r := d.Reader()
	for _, off := range unitEntries(sec["info"]) {
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil || e.Offset != off {
			continue // a unit it cannot read: the others may still serve
		}
		if e.Tag != dwarf.TagCompileUnit && e.Tag != dwarf.TagPartialUnit {
			continue
		}
		if rs, err := d.Ranges(e); err == nil {
			for _, rg := range rs {
				if rg[1] > rg[0] {
					lt.units = append(lt.units, unitRange{rg[0], rg[1], len(lt.cus)})
				}
			}
		}
		lt.cus = append(lt.cus, e)
	}
	sort.Slice(lt.units, func(i, j int) bool { return lt.units[i].lo < lt.units[j].lo })
	return nil
}

// unitEntries lists the offsets in .debug_info of the first entry of
// each compilation or partial unit, from the unit headers (DWARF 2 to 5,
// 32- and 64-bit); type and skeleton units are left out. Each header is
// at least 11 bytes, so the list is bounded by the section's size.
func unitEntries(info []byte) []dwarf.Offset {
	var out []dwarf.Offset
	for off := uint64(0); off+4 <= uint64(len(info)); {
		r := &lineBuf{b: info[off:]}
		n, hdr, offSize := uint64(r.u32()), uint64(4), uint64(4)
		switch {
		case n == 0xffff_ffff:
			n, hdr, offSize = r.u64(), 12, 8
		case n >= 0xffff_fff0:
			return out // reserved lengths
		}
		if r.bad || n > uint64(len(r.b)) || n < 7 {
			return out
		}
		switch v := r.u16(); {
		case v >= 2 && v <= 4: // version, abbrev offset, address size
			out = append(out, dwarf.Offset(off+hdr+2+offSize+1))
		case v == 5: // version, unit type, address size, abbrev offset
			if t := r.u8(); t == 1 || t == 3 { // DW_UT_compile, DW_UT_partial
				out = append(out, dwarf.Offset(off+hdr+2+1+1+offSize))
			}
		default:
			return out
		}
		off += hdr + n
	}
	return out
}

// unitOf finds the unit whose ranges hold a, or -1. Ranges of different
// units may nest (rarely); the nearest few below a are tried.
func (lt *lineTable) unitOf(a uint64) int {
	i := sort.Search(len(lt.units), func(i int) bool { return lt.units[i].lo > a }) - 1
	for j := i; j >= 0 && j > i-8; j-- {
		if a < lt.units[j].hi {
			return lt.units[j].cu
		}
	}
	return -1
}

// decode runs unit cu's line program into rows sorted by address, an end
// of sequence before a start at the same address; file names lose the
// unit's compilation directory, so they read kernel/sched/idle.c.
func (lt *lineTable) decode(cu int) ([]lineRow, error) {
	e := lt.cus[cu]
	if off, ok := e.Val(dwarf.AttrStmtList).(int64); ok {
		if err := checkLineHeader(lt.line, off); err != nil {
			return nil, err
		}
	}
	lr, err := lt.d.LineReader(e)
	if err != nil || lr == nil {
		return nil, err
	}
	dir, _ := e.Val(dwarf.AttrCompDir).(string)
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	var rows []lineRow
	var le dwarf.LineEntry
	// Each row takes at least one byte of the program; more rows than
	// bytes would be a reader going round in circles.
	for len(rows) <= len(lt.line) {
		if err := lr.Next(&le); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return rows, err
		}
		name := ""
		if le.File != nil {
			name = strings.TrimPrefix(le.File.Name, dir)
		}
		rows = append(rows, lineRow{addr: le.Address, file: name, line: le.Line, end: le.EndSequence})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].addr != rows[j].addr {
			return rows[i].addr < rows[j].addr
		}
		return rows[i].end && !rows[j].end
	})
	return rows, nil
}

// guard runs fn, turning a panic in debug/dwarf (not hardened against
// hostile input) into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: malformed DWARF (%v)", ErrFormat, p)
		}
	}()
	return fn()
}
