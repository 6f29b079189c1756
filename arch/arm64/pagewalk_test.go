package arm64

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gokvm/gokvm/vmm/memory"
)

// testRAMBase is where the test RAM sits in guest-physical space.
const testRAMBase = 0x4000_0000

// A layout is one translation setup, with the VA bits each level indexes
// written out by hand from the Arm ARM's tables (D8.2), not computed the
// way the walker computes them.
type layout struct {
	name   string
	gran   uint64    // granule in bytes
	txsz   uint64    // T0SZ and T1SZ
	tg0    uint64    // TCR_EL1.TG0 for the granule
	tg1    uint64    // TCR_EL1.TG1 for the granule
	start  int       // the first level
	ranges [][2]uint // [hi, lo] VA bits of each level from start
}

var layouts = []layout{
	{"4K/48", 4 << 10, 16, 0, 2, 0, [][2]uint{{47, 39}, {38, 30}, {29, 21}, {20, 12}}},
	{"4K/39", 4 << 10, 25, 0, 2, 1, [][2]uint{{38, 30}, {29, 21}, {20, 12}}},
	{"16K/48", 16 << 10, 16, 2, 1, 0, [][2]uint{{47, 47}, {46, 36}, {35, 25}, {24, 14}}},
	{"16K/47", 16 << 10, 17, 2, 1, 1, [][2]uint{{46, 36}, {35, 25}, {24, 14}}},
	{"64K/48", 64 << 10, 16, 1, 3, 1, [][2]uint{{47, 42}, {41, 29}, {28, 16}}},
	{"64K/42", 64 << 10, 22, 1, 3, 2, [][2]uint{{41, 29}, {28, 16}}},
}

// tcr is TCR_EL1 for l in both halves, 48-bit output addresses.
func (l layout) tcr() uint64 {
	return l.txsz | l.tg0<<14 | l.txsz<<16 | l.tg1<<30 | 5<<32
}

// tables builds translation tables in test RAM.
type tables struct {
	t    *testing.T
	ram  []byte
	mem  *memory.GuestMemory
	next uint64 // the next free granule-aligned IPA
	l    layout
}

func newTables(t *testing.T, l layout, size int) *tables {
	ram := make([]byte, size)
	return &tables{t: t, ram: ram, mem: memory.NewGuestMemoryFromSlice(testRAMBase, ram), next: testRAMBase, l: l}
}

// alloc takes one zeroed granule of RAM for a table.
func (b *tables) alloc() uint64 {
	a := b.next
	b.next += b.l.gran
	if b.next > testRAMBase+uint64(len(b.ram)) {
		b.t.Fatal("test RAM full")
	}
	return a
}

func (b *tables) put64(ipa, v uint64) {
	binary.LittleEndian.PutUint64(b.ram[ipa-testRAMBase:], v)
}

func (b *tables) get64(ipa uint64) uint64 {
	return binary.LittleEndian.Uint64(b.ram[ipa-testRAMBase:])
}

// mapAt maps va at level leaf of the tree rooted at root with the
// descriptor's output address pa (a block below level 3, a page at 3),
// making tables on the way.
func (b *tables) mapAt(root, va, pa uint64, leaf int) {
	table := root
	for i, r := range b.l.ranges {
		lvl := b.l.start + i
		idx := va >> r[1] & (1<<(r[0]-r[1]+1) - 1)
		at := table + idx*8
		if lvl == leaf {
			kind := uint64(1) // block
			if lvl == 3 {
				kind = 3 // page
			}
			b.put64(at, pa|kind|1<<10) // AF set, as a kernel sets it
			return
		}
		d := b.get64(at)
		if d == 0 {
			d = b.alloc() | 3
			b.put64(at, d)
		}
		table = d &^ (b.l.gran - 1) & oaMask48
	}
	b.t.Fatalf("level %d is not in layout %s", leaf, b.l.name)
}

// Addresses in each half that every layout can map (in range for 39
// bits, the smallest here).
const (
	kernVA = 0xffff_ffc0_0801_2345 // in TTBR1's half for any T1SZ <= 25
	userVA = 0x0000_0012_3456_789a
)

func TestTranslatePages(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			b := newTables(t, l, 1<<20)
			r0, r1 := b.alloc(), b.alloc()
			b.mapAt(r1, kernVA, 0x8000_0000, 3)
			b.mapAt(r0, userVA, 0x9000_0000, 3)
			m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR0: r0 | 1<<48 /* an ASID */, TTBR1: r1 | 1 /* CnP */}
			for _, c := range []struct{ va, pa uint64 }{
				{kernVA, 0x8000_0000 | kernVA&(l.gran-1)},
				{userVA, 0x9000_0000 | userVA&(l.gran-1)},
			} {
				ipa, size, err := m.Translate(b.mem, c.va)
				if err != nil || ipa != c.pa || size != l.gran {
					t.Errorf("Translate(%#x) = %#x, %#x, %v; want %#x, %#x", c.va, ipa, size, err, c.pa, l.gran)
				}
			}
			// The next page is not mapped.
			_, _, err := m.Translate(b.mem, kernVA+l.gran)
			if !errors.Is(err, ErrUnmapped) {
				t.Errorf("an unmapped page: %v", err)
			}
		})
	}
}

func TestTranslate42Bits(t *testing.T) {
	l := layouts[5]
	b := newTables(t, l, 1<<20)
	r1 := b.alloc()
	const va = 0xffff_fe00_1234_5678 // bits 63..42 set
	b.mapAt(r1, va, 0x8000_0000, 3)
	m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR1: r1}
	if ipa, _, err := m.Translate(b.mem, va); err != nil || ipa != 0x8000_5678 {
		t.Errorf("Translate = %#x, %v", ipa, err)
	}
	// Bit 42 clear: outside the 42-bit range of TTBR1.
	if _, _, err := m.Translate(b.mem, va&^(1<<42)|1<<55); !errors.Is(err, ErrUnmapped) {
		t.Errorf("an address outside the range: %v", err)
	}
}

func TestTranslateBlocks(t *testing.T) {
	for _, c := range []struct {
		layout int
		level  int
		size   uint64
	}{
		{0, 1, 1 << 30}, {0, 2, 2 << 20}, {1, 1, 1 << 30}, {1, 2, 2 << 20},
		{2, 2, 32 << 20}, {3, 2, 32 << 20}, {4, 2, 512 << 20},
	} {
		l := layouts[c.layout]
		t.Run(fmt.Sprintf("%s/L%d", l.name, c.level), func(t *testing.T) {
			b := newTables(t, l, 1<<20)
			r1 := b.alloc()
			pa := uint64(0x40_0000_0000) // aligned for any block size
			b.mapAt(r1, kernVA, pa, c.level)
			m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR1: r1}
			ipa, size, err := m.Translate(b.mem, kernVA)
			if err != nil || ipa != pa|kernVA&(c.size-1) || size != c.size {
				t.Errorf("Translate = %#x, %#x, %v; want %#x, %#x", ipa, size, err, pa|kernVA&(c.size-1), c.size)
			}
		})
	}
}

func TestTranslateRefusedBlocks(t *testing.T) {
	for _, c := range []struct{ layout, level int }{{0, 0}, {2, 0}, {2, 1}, {3, 1}, {4, 1}} {
		l := layouts[c.layout]
		b := newTables(t, l, 1<<20)
		r1 := b.alloc()
		b.mapAt(r1, kernVA, 0x40_0000_0000, c.level)
		m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR1: r1}
		if _, _, err := m.Translate(b.mem, kernVA); !errors.Is(err, ErrUnmapped) {
			t.Errorf("%s: a block at level %d: error %v", l.name, c.level, err)
		}
	}
}

func TestTranslateBadDescriptors(t *testing.T) {
	l := layouts[0]
	b := newTables(t, l, 1<<20)
	r1 := b.alloc()
	b.mapAt(r1, kernVA, 0x8000_0000, 3)
	m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR1: r1}
	// Find the four descriptors of the walk.
	var at [4]uint64
	table := r1
	for i, r := range l.ranges {
		at[i] = table + (kernVA>>r[1]&(1<<(r[0]-r[1]+1)-1))*8
		table = b.get64(at[i]) &^ 0xfff & oaMask48
	}
	for lvl := 0; lvl < 4; lvl++ {
		saved := b.get64(at[lvl])
		b.put64(at[lvl], saved&^1) // invalid
		if _, _, err := m.Translate(b.mem, kernVA); !errors.Is(err, ErrUnmapped) {
			t.Errorf("an invalid level-%d descriptor: %v", lvl, err)
		}
		b.put64(at[lvl], saved)
	}
	// A level-3 descriptor of type 0b01 is reserved.
	saved := b.get64(at[3])
	b.put64(at[3], saved&^2)
	if _, _, err := m.Translate(b.mem, kernVA); !errors.Is(err, ErrUnmapped) {
		t.Errorf("a reserved level-3 descriptor: %v", err)
	}
	b.put64(at[3], saved)
	// A table outside RAM.
	saved = b.get64(at[1])
	b.put64(at[1], 0x7000_0000|3)
	if _, _, err := m.Translate(b.mem, kernVA); !errors.Is(err, memory.ErrOutOfRange) {
		t.Errorf("a table outside RAM: %v", err)
	}
	// A table beyond the output size (IPS=0: 32 bits).
	m32 := m
	m32.TCR &^= 7 << 32
	b.put64(at[1], 0x1_0000_0000|3)
	if _, _, err := m32.Translate(b.mem, kernVA); !errors.Is(err, ErrUnmapped) {
		t.Errorf("a table beyond the output size: %v", err)
	}
	b.put64(at[1], saved)
	b.put64(at[3], 0x1_0000_0000|3)
	if _, _, err := m32.Translate(b.mem, kernVA); !errors.Is(err, ErrUnmapped) {
		t.Errorf("a page beyond the 32-bit output size: %v", err)
	}
	// TTBR1 outside RAM.
	m.TTBR1 = 0x1000
	if _, _, err := m.Translate(b.mem, kernVA); !errors.Is(err, memory.ErrOutOfRange) {
		t.Errorf("TTBR1 outside RAM: %v", err)
	}
}

func TestTranslateSplit(t *testing.T) {
	l := layouts[0]
	b := newTables(t, l, 1<<20)
	r0, r1 := b.alloc(), b.alloc()
	const low, high = 0x0000_8000_0801_2000, 0xffff_8000_0801_2000 // same index bits
	b.mapAt(r0, low, 0x1000_0000, 3)
	b.mapAt(r1, high, 0x2000_0000, 3)
	m := MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR0: r0, TTBR1: r1}
	if ipa, _, err := m.Translate(b.mem, low); err != nil || ipa != 0x1000_0000 {
		t.Errorf("TTBR0's half: %#x, %v", ipa, err)
	}
	if ipa, _, err := m.Translate(b.mem, high); err != nil || ipa != 0x2000_0000 {
		t.Errorf("TTBR1's half: %#x, %v", ipa, err)
	}
	for _, va := range []uint64{0x0001_8000_0801_2000, 0xfffe_8000_0801_2000, 0x0080_8000_0801_2000, 0x7fff_8000_0801_2000} {
		if _, _, err := m.Translate(b.mem, va); !errors.Is(err, ErrUnmapped) {
			t.Errorf("Translate(%#x): %v, want outside the range", va, err)
		}
	}
	// The top byte, ignored (TBI), may hold a tag; else it must match.
	const tagged = 0x5aff_8000_0801_2000
	if _, _, err := m.Translate(b.mem, tagged); !errors.Is(err, ErrUnmapped) {
		t.Errorf("a tagged address without TBI1: %v", err)
	}
	tbi := m
	tbi.TCR |= tcrTBI1 | tcrTBI0
	if ipa, _, err := tbi.Translate(b.mem, tagged); err != nil || ipa != 0x2000_0000 {
		t.Errorf("a tagged address with TBI1: %#x, %v", ipa, err)
	}
	if ipa, _, err := tbi.Translate(b.mem, 0x3c00_8000_0801_2000); err != nil || ipa != 0x1000_0000 {
		t.Errorf("a tagged address with TBI0: %#x, %v", ipa, err)
	}
	epd := m
	epd.TCR |= tcrEPD0
	if _, _, err := epd.Translate(b.mem, low); !errors.Is(err, ErrUnmapped) {
		t.Errorf("EPD0: %v", err)
	}
	if _, _, err := epd.Translate(b.mem, high); err != nil {
		t.Errorf("EPD0 stopped TTBR1's walk: %v", err)
	}
	// The MMU off: virtual is physical.
	if ipa, size, err := (MMU{TCR: m.TCR}).Translate(b.mem, 0x4000_1234); err != nil || ipa != 0x4000_1234 || size != 4096 {
		t.Errorf("MMU off: %#x, %v", ipa, err)
	}
}

func TestTranslateRefusedRegimes(t *testing.T) {
	base := layouts[0].tcr()
	for _, c := range []struct {
		name string
		tcr  uint64
	}{
		{"DS", base | tcrDS},
		{"52-bit IPS", base&^(7<<32) | 6<<32},
		{"reserved IPS", base | 7<<32},
		{"TG1=0", base &^ (3 << 30)},
		{"T1SZ=12", base&^(0x3f<<16) | 12<<16},
		{"T1SZ=63", base | 0x3f<<16},
	} {
		m := MMU{SCTLR: sctlrM, TCR: c.tcr, TTBR1: testRAMBase}
		mem := memory.NewGuestMemoryFromSlice(testRAMBase, make([]byte, 4096))
		if _, _, err := m.Translate(mem, kernVA); !errors.Is(err, ErrTranslationRegime) {
			t.Errorf("%s: error %v", c.name, err)
		}
	}
	m := MMU{SCTLR: sctlrM, TCR: base | 3<<14, TTBR0: testRAMBase}
	if _, _, err := m.Translate(memory.NewGuestMemoryFromSlice(testRAMBase, make([]byte, 4096)), userVA); !errors.Is(err, ErrTranslationRegime) {
		t.Errorf("TG0=3: error %v", err)
	}
}

func TestGuestVirtRead(t *testing.T) {
	l := layouts[0]
	b := newTables(t, l, 1<<20)
	r1 := b.alloc()
	p1, p2 := b.alloc(), b.alloc()
	b.alloc()
	const va = 0xffff_8000_1000_0000
	// Two adjacent virtual pages, mapped to physical pages in reverse.
	b.mapAt(r1, va, p2, 3)
	b.mapAt(r1, va+4096, p1, 3)
	copy(b.ram[p2-testRAMBase+4088:], "01234567")
	copy(b.ram[p1-testRAMBase:], "89abcdef")
	g := GuestVirt{MMU: MMU{SCTLR: sctlrM, TCR: l.tcr(), TTBR1: r1}, Mem: b.mem}
	got := make([]byte, 16)
	if err := g.Read(va+4088, got); err != nil || !bytes.Equal(got, []byte("0123456789abcdef")) {
		t.Errorf("Read across pages = %q, %v", got, err)
	}
	if err := g.Read(va+8190, got[:4]); !errors.Is(err, ErrUnmapped) {
		t.Errorf("Read into an unmapped page: %v", err)
	}
	if err := g.Read(^uint64(0)-3, got); !errors.Is(err, ErrUnmapped) {
		t.Errorf("Read wrapping around: %v", err)
	}
}

func FuzzTranslate(f *testing.F) {
	for _, l := range layouts {
		f.Add(l.tcr(), uint64(0), uint64(0), uint64(kernVA), make([]byte, 64))
	}
	f.Add(layouts[0].tcr(), uint64(0), uint64(0x1000), uint64(kernVA), bytes.Repeat([]byte{3, 0x10, 0, 0x40, 0, 0, 0, 0}, 1024))
	f.Fuzz(func(t *testing.T, tcr, ttbr0, ttbr1, va uint64, ram []byte) {
		if len(ram) == 0 {
			return
		}
		// Point the table bases into RAM most of the time, so the
		// walk reads the fuzzer's descriptors.
		if ttbr0 < 1<<20 {
			ttbr0 = testRAMBase + ttbr0%uint64(len(ram))
		}
		if ttbr1 < 1<<20 {
			ttbr1 = testRAMBase + ttbr1%uint64(len(ram))
		}
		mem := memory.NewGuestMemoryFromSlice(testRAMBase, ram)
		m := MMU{SCTLR: sctlrM, TCR: tcr, TTBR0: ttbr0, TTBR1: ttbr1}
		ipa, size, err := m.Translate(mem, va)
		if err != nil {
			return
		}
		if size < 4096 || size&(size-1) != 0 || ipa&(size-1) != va&(size-1) {
			t.Fatalf("Translate(%#x) = %#x, size %#x: not a page or block of it", va, ipa, size)
		}
		if ipa>>ipsBits[tcr>>32&7] != 0 {
			t.Fatalf("Translate(%#x) = %#x, beyond the output size", va, ipa)
		}
		GuestVirt{MMU: m, Mem: mem}.Read(va, make([]byte, 32))
	})
}
