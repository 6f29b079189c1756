package symbols

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Bounds on what an ELF file may make the loader allocate. A vmlinux's
// .symtab is a few MiB and its DWARF a few hundred MiB; a section header
// claiming more (a compressed section's size is a claim) is refused
// before anything is read.
const (
	maxSymtabBytes = 512 << 20
	maxDebugBytes  = 4 << 30
)

// parseELF reads the function and object symbols of an ELF executable or
// shared object (a vmlinux is one or the other, with or without
// CONFIG_RELOCATABLE), and notes whether it has a DWARF line table to
// decode later. debug/elf and debug/dwarf are not hardened against hostile
// files (Go's security policy leaves them out); a panic in them is turned
// into an error.
func parseELF(r io.ReaderAt, size int64) (t *table, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%w: malformed ELF file (%v)", ErrFormat, p)
		}
	}()
	if err := checkELFTables(r, size); err != nil {
		return nil, err
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed ELF file: %v", ErrFormat, err)
	}
	switch f.Type {
	case elf.ET_EXEC, elf.ET_DYN:
	default:
		return nil, fmt.Errorf("%w: an ELF %v file, not a linked kernel (vmlinux)", ErrFormat, f.Type)
	}
	st := f.Section(".symtab")
	if st == nil || st.Type != elf.SHT_SYMTAB {
		return nil, fmt.Errorf("%w: the ELF file has no symbol table (stripped?); give the unstripped vmlinux or the System.map", ErrFormat)
	}
	if st.Size > maxSymtabBytes || st.Flags&elf.SHF_COMPRESSED == 0 && st.Size > uint64(size) {
		return nil, fmt.Errorf("%w: the ELF symbol table claims %d bytes", ErrFormat, st.Size)
	}
	esyms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%w: reading the ELF symbol table: %v", ErrFormat, err)
	}
	syms := make([]sym, 0, len(esyms))
	for _, s := range esyms {
		if r, ok := elfRank(s); ok {
			syms = append(syms, sym{name: s.Name, addr: s.Value, size: s.Size, rank: r})
		}
	}
	t, err = finish(syms, "ELF file")
	if err != nil {
		return nil, err
	}
	lines, err := newLineTable(f, size)
	if err != nil {
		return nil, err
	}
	t.lines = lines
	return t, nil
}

// elfRank says whether an ELF symbol names a place in the kernel and how
// it ranks among symbols at the same address: functions over objects over
// untyped labels (assembler entry code such as vectors is untyped),
// global over local. Section, file and TLS symbols, undefined, absolute
// and common ones, and ARM mapping symbols ($x, $d) and assembler locals
// (.L) are left out.
func elfRank(s elf.Symbol) (int8, bool) {
	if s.Name == "" || strings.HasPrefix(s.Name, "$") || strings.HasPrefix(s.Name, ".L") || s.Value == 0 {
		return 0, false
	}
	if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE {
		return 0, false
	}
	var r int8
	switch elf.ST_TYPE(s.Info) {
	case elf.STT_FUNC:
		r = 4
	case elf.STT_OBJECT:
		r = 2
	case elf.STT_NOTYPE:
	default:
		return 0, false
	}
	if elf.ST_BIND(s.Info) != elf.STB_LOCAL {
		r++
	}
	return r, true
}

// checkELFTables checks that the program and section header tables lie
// within the file before debug/elf reads them: it allocates what the
// header claims (up to 4 GiB for 65535 entries of 65535 bytes) before
// finding the file too short, and a VMM asked to read a bad --symbols
// file should not take gigabytes for it.
func checkELFTables(r io.ReaderAt, size int64) error {
	var h [64]byte
	if size < 52 {
		return fmt.Errorf("%w: malformed ELF file: %d bytes, shorter than an ELF header", ErrFormat, size)
	}
	n, _ := r.ReadAt(h[:min(size, 64)], 0)
	var bo binary.ByteOrder = binary.LittleEndian
	if h[elf.EI_DATA] == byte(elf.ELFDATA2MSB) {
		bo = binary.BigEndian
	}
	var phoff, shoff uint64
	var phentsize, phnum, shentsize, shnum uint64
	var sh0Size, sh0Info int // offsets of section 0's sh_size and sh_info
	switch elf.Class(h[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		if n < 64 {
			return fmt.Errorf("%w: malformed ELF file: truncated header", ErrFormat)
		}
		phoff, shoff = bo.Uint64(h[0x20:]), bo.Uint64(h[0x28:])
		phentsize, phnum = uint64(bo.Uint16(h[0x36:])), uint64(bo.Uint16(h[0x38:]))
		shentsize, shnum = uint64(bo.Uint16(h[0x3a:])), uint64(bo.Uint16(h[0x3c:]))
		sh0Size, sh0Info = 0x20, 0x2c
	case elf.ELFCLASS32:
		phoff, shoff = uint64(bo.Uint32(h[0x1c:])), uint64(bo.Uint32(h[0x20:]))
		phentsize, phnum = uint64(bo.Uint16(h[0x2a:])), uint64(bo.Uint16(h[0x2c:]))
		shentsize, shnum = uint64(bo.Uint16(h[0x2e:])), uint64(bo.Uint16(h[0x30:]))
		sh0Size, sh0Info = 0x14, 0x1c
	default:
		return nil // debug/elf refuses it
	}
	within := func(off, n, entsize uint64) bool {
		return n == 0 || entsize <= uint64(size) && n <= uint64(size)/max(entsize, 1) && off <= uint64(size)-n*entsize
	}
	// Extended numbering: counts too large for the header are in
	// section 0 (sh_size for the sections, sh_info for the programs).
	if (shnum == 0 || phnum == 0xffff) && shoff != 0 && within(shoff, 1, max(shentsize, uint64(sh0Info)+4)) {
		var sh0 [64]byte
		if _, err := r.ReadAt(sh0[:sh0Info+4], int64(shoff)); err == nil {
			if shnum == 0 {
				if sh0Size == 0x20 {
					shnum = bo.Uint64(sh0[sh0Size:])
				} else {
					shnum = uint64(bo.Uint32(sh0[sh0Size:]))
				}
			}
			if phnum == 0xffff {
				phnum = uint64(bo.Uint32(sh0[sh0Info:]))
			}
		}
	}
	if !within(phoff, phnum, phentsize) || !within(shoff, shnum, shentsize) {
		return fmt.Errorf("%w: malformed ELF file: its header tables lie beyond its %d bytes", ErrFormat, size)
	}
	return nil
}
