package memory

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRAMFileRoundTrip: RAM written out with holes maps back the same,
// and writes to the mapping stay private to it.
func TestRAMFileRoundTrip(t *testing.T) {
	const size = 8 << 20
	m, err := NewGuestMemory(0x8000_0000, size)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Write(0x8000_0000, []byte("first page"))
	m.Write(0x8000_0000+5<<20+123, bytes.Repeat([]byte{0xab}, 10000))
	m.Write(0x8000_0000+size-4, []byte{1, 2, 3, 4})
	p := filepath.Join(t.TempDir(), "ram")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.WriteRAM(f); err != nil {
		t.Fatal(err)
	}
	var st = must(f.Stat())
	if st.Size() != size {
		t.Fatalf("the RAM file has %d bytes", st.Size())
	}
	r, err := NewGuestMemoryFromFile(0x8000_0000, size, f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(r.Bytes(), m.Bytes()) {
		t.Fatal("the restored RAM differs")
	}
	r.Write(0x8000_0000, []byte("changed"))
	back := make([]byte, 10)
	f.ReadAt(back, 0)
	if string(back) != "first page" {
		t.Errorf("a write to restored RAM reached the file: %q", back)
	}
	if _, err := NewGuestMemoryFromFile(0x8000_0000, size*2, f); !errors.Is(err, ErrBadSize) {
		t.Errorf("a RAM file of the wrong size: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestWriteRAMOverOldFile: RAM saved over an old file of the same size
// reads back as RAM, not as the old bytes, where RAM is zeros too.
func TestWriteRAMOverOldFile(t *testing.T) {
	const size = 2 << 20
	m, err := NewGuestMemory(0x8000_0000, size)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Write(0x8000_0000+4096, []byte("kept"))
	p := filepath.Join(t.TempDir(), "ram")
	os.WriteFile(p, bytes.Repeat([]byte{0xee}, size), 0o600)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := m.WriteRAM(f); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, m.Bytes()) {
		t.Error("the RAM file differs from RAM: the old file's bytes show through")
	}
}
