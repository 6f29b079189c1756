package kallsyms

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const linkBase = 0xffff800008000000

type layout int

const (
	v61 layout = iota // offsets, relative base, num_syms, names, markers, seqs_of_names, tokens
	v64               // num_syms, names, markers, tokens, offsets, relative base
)

// image builds an Image with n text symbols f0, f1, ... 16 bytes apart
// from linkBase+0x10000, its kallsyms tables laid out as l. With
// relocatable, the relative base reads 0 and a .rela.dyn has it, along
// with relocations of function pointers.
func image(t *testing.T, n int, l layout, relocatable bool) ([]byte, []Symbol) {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 64)
	copy(hdr[56:], "ARM\x64")
	b.Write(hdr)
	align := func() {
		for b.Len()%8 != 0 {
			b.WriteByte(0)
		}
	}
	u32 := func(v uint32) { binary.Write(&b, binary.LittleEndian, v) }
	u64 := func(v uint64) { binary.Write(&b, binary.LittleEndian, v) }
	b.Write(make([]byte, 4096-64))

	// Token b is the character b, but for the unprintable bytes.
	var tokens [256]string
	for i := range tokens {
		if i > ' ' && i < 0x7f {
			tokens[i] = string(rune(i))
		} else {
			tokens[i] = fmt.Sprintf("<%02x>", i)
		}
	}
	var syms []Symbol
	for i := range n {
		typ := byte('t')
		if i%3 == 0 {
			typ = 'T'
		}
		syms = append(syms, Symbol{Addr: linkBase + 0x10000 + uint64(16*i), Type: typ, Name: fmt.Sprintf("f%d", i)})
	}
	if n > 300 { // a big symbol, two length bytes
		syms[300].Name = strings.Repeat("long", 40)
	}
	relBase := syms[0].Addr
	var relBaseAt int
	offsets := func() {
		align()
		for _, s := range syms {
			u32(uint32(s.Addr - relBase))
		}
		align()
		relBaseAt = b.Len()
		if relocatable {
			u64(0)
		} else {
			u64(relBase)
		}
	}
	if l == v61 {
		offsets()
	}
	align()
	u32(uint32(n))
	align()
	start := b.Len()
	var marks []uint32
	for i, s := range syms {
		if i%256 == 0 {
			marks = append(marks, uint32(b.Len()-start))
		}
		enc := string(s.Type) + s.Name
		if len(enc) > 127 {
			b.WriteByte(byte(len(enc)&0x7f | 0x80))
			b.WriteByte(byte(len(enc) >> 7))
		} else {
			b.WriteByte(byte(len(enc)))
		}
		b.WriteString(enc)
	}
	align()
	for _, m := range marks {
		u32(m)
	}
	if l == v61 {
		align()
		for i := range n {
			b.Write([]byte{byte(i), byte(i >> 8), 1})
		}
	}
	align()
	tokStart := b.Len()
	var idx []uint16
	for _, tok := range tokens {
		idx = append(idx, uint16(b.Len()-tokStart))
		b.WriteString(tok)
		b.WriteByte(0)
	}
	align()
	for _, v := range idx {
		binary.Write(&b, binary.LittleEndian, v)
	}
	if l == v64 {
		offsets()
	}
	if relocatable {
		align()
		b.Write(make([]byte, 4096))
		place := func(p int) { u64(linkBase + uint64(p)) }
		place(relBaseAt)
		u64(rAarch64Relative)
		u64(relBase)
		for i, s := range syms {
			place(64 + 8*(i%500))
			u64(rAarch64Relative)
			u64(s.Addr)
		}
	}
	b.Write(make([]byte, 4096))
	return b.Bytes(), syms
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		l           layout
		relocatable bool
		n           int
	}{
		{v61, false, 1000}, {v61, true, 1000}, {v64, false, 700}, {v64, true, 513}, {v61, true, 512},
	} {
		t.Run(fmt.Sprintf("layout%d-reloc%v-%d", tc.l, tc.relocatable, tc.n), func(t *testing.T) {
			img, want := image(t, tc.n, tc.l, tc.relocatable)
			got, err := Read(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d symbols, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("symbol %d: %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	if _, err := Read(make([]byte, 1<<16)); err == nil || !strings.Contains(err.Error(), "not an arm64 kernel Image") {
		t.Errorf("zeros: %v", err)
	}
	img := make([]byte, 1<<16)
	copy(img[56:], "ARM\x64")
	if _, err := Read(img); err == nil || !strings.Contains(err.Error(), "no kallsyms_token_index") {
		t.Errorf("no tables: %v", err)
	}
	img, _ = image(t, 1000, v61, false)
	// Truncating a name: the names no longer end where the markers start.
	i := bytes.Index(img, []byte("\x04tf10"))
	img[i] = 5
	if _, err := Read(img); err == nil {
		t.Error("a broken name table was read")
	}
}

func TestWriteMap(t *testing.T) {
	var b bytes.Buffer
	WriteMap(&b, []Symbol{{0xffff800008010000, 'T', "_stext"}, {0xffff800008010010, 't', "f"}})
	want := "ffff800008010000 T _stext\nffff800008010010 t f\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// TestDebianImage reads the end-to-end tests' kernel when
// testdata/kernels/fetch.sh has fetched it into $GOKVM_KERNELS.
func TestDebianImage(t *testing.T) {
	dir := os.Getenv("GOKVM_KERNELS")
	if dir == "" {
		t.Skip("GOKVM_KERNELS not set")
	}
	img, err := os.ReadFile(filepath.Join(dir, "arm64", "Image"))
	if err != nil {
		t.Skip(err)
	}
	syms, err := Read(img)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]uint64{}
	for _, s := range syms {
		byName[s.Name] = s.Addr
	}
	for _, n := range []string{"_stext", "_etext", "start_kernel", "__warn_printk", "cpu_do_idle"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("no %s among %d symbols", n, len(syms))
		}
	}
	// cpu_do_idle is dsb sy; wfi (and pointer authentication around).
	off := byName["cpu_do_idle"] - (byName["_stext"] - 0x10000)
	if off+16 > uint64(len(img)) || !bytes.Contains(img[off:off+16], []byte{0x7f, 0x20, 0x03, 0xd5}) {
		t.Errorf("no wfi at cpu_do_idle (Image offset %#x)", off)
	}
}
