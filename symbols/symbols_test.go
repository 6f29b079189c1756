package symbols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const sampleMap = `ffff800008000000 t _head
ffff800008000000 T _text
ffff800008010000 T __exception_text_start
ffff800008010000 T vectors
ffff800008010800 t el1t_64_sync
0000000000000000 A _kernel_flags_le_hi32
ffff800008010800 T $x
ffff80000812ab80 T default_idle_call
ffff80000812abd0 T do_idle

ffff80000812ae70 T cpu_startup_entry
0000000000000000 w __weak_undefined
ffff800009000000 B _end
`

func writeTemp(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemMap(t *testing.T) {
	tab, err := Load(writeTemp(t, "System.map", sampleMap))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if tab.Kind() != "System.map" || tab.HasLines() {
		t.Errorf("kind %q, lines %v", tab.Kind(), tab.HasLines())
	}
	for _, c := range []struct {
		addr uint64
		want string
	}{
		{0xffff80000812abac, "default_idle_call+0x2c/0x50"},
		{0xffff80000812ab80, "default_idle_call+0x0/0x50"},
		{0xffff80000812abd0, "do_idle+0x0/0x2a0"},
		// Text over local, then names: _text is preferred to _head.
		{0xffff800008000010, "_text+0x10/0x10000"},
		// The global vectors over __exception_text_start by name.
		{0xffff800008010004, "__exception_text_start+0x4/0x800"},
		// $x is a mapping symbol: the local label names the address.
		{0xffff800008010804, "el1t_64_sync+0x4/0x11a380"},
		{0xffff800009000000, "_end+0x0"},
	} {
		s, ok := tab.Lookup(c.addr)
		if !ok || s.String() != c.want {
			t.Errorf("Lookup(%#x) = %v, %v; want %s", c.addr, s, ok, c.want)
		}
	}
	for _, a := range []uint64{0, 0x400000, 0xffff800007ffffff, 0xffff800009000001} {
		if s, ok := tab.Lookup(a); ok {
			t.Errorf("Lookup(%#x) = %v, want none", a, s)
		}
	}
	if _, _, ok := tab.Line(0xffff80000812abac); ok {
		t.Error("a System.map answered a line")
	}
}

func TestSystemMapErrors(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"empty", "", "neither an ELF file nor a System.map"},
		{"binary", "MZ\x00\x01\x02 junk", "neither an ELF file nor a System.map (line 1"},
		{"bad line 3", "ffff800008000000 T _text\n\nffff80000800zzzz T x\n", "System.map line 3: address not hexadecimal"},
		{"fields", "ffff800008000000 T _text\nffff800008000010 T\n", "line 2: 2 fields"},
		{"type", "ffff800008000000 T _text\nffff800008000010 TT x\n", "line 2: type is not one nm letter"},
		{"long", "ffff800008000000 T _text\n" + strings.Repeat("a", maxMapLine+1) + "\n", "line 2 is longer than"},
		{"nothing usable", "0000000000000000 A a\n0000000000000010 A b\n", "no usable symbols"},
	} {
		_, err := Load(writeTemp(t, "map", c.data))
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrFormat saying %q", c.name, err, c.want)
		}
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: error %v, want ErrNotExist", err)
	}
}

func TestSlide(t *testing.T) {
	tab, err := Load(writeTemp(t, "System.map", sampleMap))
	if err != nil {
		t.Fatal(err)
	}
	const slide = 0x1234_0000_0000
	d, err := tab.SlideFor("vectors", 0xffff800008010000+slide)
	if err != nil || d != slide {
		t.Fatalf("SlideFor = %#x, %v", d, err)
	}
	slid := tab.WithOffset(d)
	if s, ok := slid.Lookup(0xffff80000812abac + slide); !ok || s.String() != "default_idle_call+0x2c/0x50" || s.Addr != 0xffff80000812ab80+slide {
		t.Errorf("slid Lookup = %+v, %v", s, ok)
	}
	if _, ok := slid.Lookup(0xffff80000812abac); ok {
		t.Error("the slid view found an unslid address")
	}
	if s, ok := slid.Find("do_idle"); !ok || s.Addr != 0xffff80000812abd0+slide {
		t.Errorf("Find = %+v, %v", s, ok)
	}
	if _, err := tab.SlideFor("nope", 0); err == nil {
		t.Error("SlideFor found a missing symbol")
	}
}

func TestELF(t *testing.T) {
	tab, err := Load("testdata/tiny.elf")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if tab.Kind() != "ELF file" || !tab.HasLines() {
		t.Fatalf("kind %q, lines %v", tab.Kind(), tab.HasLines())
	}
	// Addresses from nm -S and objdump -d --line-numbers of tiny.elf.
	for _, c := range []struct {
		addr uint64
		want string
		file string
		line int
	}{
		{0xffff800008010000, "vectors+0x0/0x800", "", 0}, // an assembler symbol: no line
		{0xffff8000080107ff, "leaf+0x2/0x15", "tiny.c", 9},
		{0xffff800008010811, "leaf+0x14/0x15", "tiny.c", 10},
		{0xffff80000801081e, "middle+0xc/0x1c", "tiny.c", 15},
		{0xffff800008011008, "table+0x8/0x40", "", 0},
		{0xffff800008012040, "counter+0x0/0x4", "", 0},
	} {
		s, ok := tab.Lookup(c.addr)
		if !ok || s.String() != c.want {
			t.Errorf("Lookup(%#x) = %v, %v; want %s", c.addr, s, ok, c.want)
		}
		f, l, ok := tab.Line(c.addr)
		if c.line == 0 {
			if ok {
				t.Errorf("Line(%#x) = %s:%d, want none", c.addr, f, l)
			}
		} else if !ok || f != c.file || l != c.line {
			t.Errorf("Line(%#x) = %s:%d %v, want %s:%d", c.addr, f, l, ok, c.file, c.line)
		}
	}
	// Past table's 0x40 bytes, before the next symbol: nothing.
	if s, ok := tab.Lookup(0xffff800008011040); ok {
		t.Errorf("an address past a sized symbol named %v", s)
	}
	if _, _, ok := tab.WithOffset(0x1000).Line(0xffff8000080107ff + 0x1000); !ok {
		t.Error("a slid view found no line")
	}
}

func TestELFWithoutSymbols(t *testing.T) {
	b, err := os.ReadFile("testdata/tiny.elf")
	if err != nil {
		t.Fatal(err)
	}
	// Renaming the section (in .shstrtab) leaves no symbol table, as a
	// strip would.
	b = bytes.Replace(b, []byte(".symtab\x00"), []byte(".nosym_\x00"), 1)
	_, err = Load(writeTemp(t, "vmlinux", string(b)))
	if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "no symbol table") {
		t.Errorf("error %v, want one saying no symbol table", err)
	}
	// 65535 section headers of 65535 bytes, which debug/elf would
	// allocate before reading.
	huge := append([]byte(nil), b...)
	binary.LittleEndian.PutUint16(huge[0x3a:], 0xffff)
	binary.LittleEndian.PutUint16(huge[0x3c:], 0xffff)
	_, err = Load(writeTemp(t, "vmlinux", string(huge)))
	if err == nil || !strings.Contains(err.Error(), "header tables lie beyond") {
		t.Errorf("huge section headers: error %v", err)
	}
	_, err = Load(writeTemp(t, "vmlinux", string(b[:100])))
	if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "malformed ELF") {
		t.Errorf("a truncated ELF file: error %v", err)
	}
}

func TestELFConcurrentLines(t *testing.T) {
	tab, err := Load("testdata/tiny.elf")
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := uint64(0xffff8000080107fd); a < 0xffff80000801084c; a++ {
				tab.Line(a)
				tab.Lookup(a)
			}
		}()
	}
	wg.Wait()
	tab.Close()
	if _, _, ok := tab.Line(0xffff8000080107ff); ok {
		t.Error("a closed table answered a line")
	}
}

func TestCheckLineHeader(t *testing.T) {
	// A DWARF 5 line program header: unit length, version 5, address
	// and selector sizes, header length, five single-byte fields,
	// opcode_base 1 (no lengths), then the directory formats and count.
	hdr := func(dirCount ...byte) []byte {
		b := []byte{0, 0, 0, 0, 5, 0, 8, 0, 0, 0, 0, 0, 1, 1, 1, 0xfb, 14, 1}
		b = append(b, 1, 1, 0x08) // one format: DW_LNCT_path, DW_FORM_string
		b = append(b, dirCount...)
		b = append(b, 'a', 0, 0, 0) // a directory "a", then no file formats, 0 files
		binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	if err := checkLineHeader(hdr(1), 0); err != nil {
		t.Errorf("a good header: %v", err)
	}
	// 2^40 directories, as a ULEB128.
	if err := checkLineHeader(hdr(0x80, 0x80, 0x80, 0x80, 0x80, 0x20), 0); err == nil || !strings.Contains(err.Error(), "directory entries") {
		t.Errorf("2^40 directories: %v", err)
	}
	if err := checkLineHeader(hdr(3), 0); err == nil {
		t.Error("entries past the end were accepted")
	}
	if err := checkLineHeader(hdr(1), 100); err == nil {
		t.Error("an offset past the section was accepted")
	}
}
