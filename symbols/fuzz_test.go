package symbols

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func FuzzSystemMap(f *testing.F) {
	f.Add([]byte(sampleMap))
	f.Add([]byte("ffffffffffffffff T last\n"))
	f.Add([]byte("ffff800008000000 T a [mod]\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := parseSystemMap(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		checkTable(t, &Table{table: tab})
	})
}

func FuzzELF(f *testing.F) {
	elf, err := os.ReadFile("testdata/tiny.elf")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(elf)
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := parseELF(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		tt := &Table{table: tab}
		checkTable(t, tt)
		for _, s := range tab.syms[:min(len(tab.syms), 16)] {
			tt.Line(s.addr)
			tt.Line(s.addr + 1)
		}
	})
}

// checkTable checks what every loaded table must hold: sorted unique
// addresses, and each symbol found at its own address.
func checkTable(t *testing.T, tab *Table) {
	for i, s := range tab.syms {
		if i > 0 && tab.syms[i-1].addr >= s.addr {
			t.Fatalf("symbols %d and %d out of order: %#x, %#x", i-1, i, tab.syms[i-1].addr, s.addr)
		}
		got, ok := tab.Lookup(s.addr)
		if !ok || got.Name != s.name || got.Offset != 0 {
			t.Fatalf("Lookup(%#x) = %+v, %v; want %s", s.addr, got, ok, s.name)
		}
	}
}
