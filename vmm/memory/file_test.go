package memory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
	r, err := NewGuestMemoryFromFile(0x8000_0000, size, f, nil)
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
	if _, err := NewGuestMemoryFromFile(0x8000_0000, size*2, f, nil); !errors.Is(err, ErrBadSize) {
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

// TestRAMFileHolesAreAnonymous: RAM restored from a file maps from it
// only the 2 MiB pieces that hold data; the pieces that are all holes are
// anonymous memory (huge pages, as booted RAM), and all of it reads back
// as the saved RAM and takes writes.
func TestRAMFileHolesAreAnonymous(t *testing.T) {
	const size = 16 << 20
	m, err := NewGuestMemory(0x8000_0000, size)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := savePieces(t, m)
	runs, err := dataChunks(f, size, hugePageSize)
	if err != nil {
		t.Fatal(err)
	}
	want := []fileRange{{2 << 20, 4 << 20}, {14 << 20, 2 << 20}}
	if !slices.Equal(runs, want) {
		t.Fatalf("data pieces %v, want %v", runs, want)
	}
	r, err := NewGuestMemoryFromFile(0x8000_0000, size, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(r.Bytes(), m.Bytes()) {
		t.Fatal("the restored RAM differs")
	}
	fromFile := filePieces(t, r, f.Name())
	for piece := uint64(0); piece < size>>21; piece++ {
		wantFile := piece == 1 || piece == 2 || piece == 7
		if fromFile[piece] != wantFile {
			t.Errorf("2 MiB piece %d maps the file: %v, want %v", piece, fromFile[piece], wantFile)
		}
	}
	r.Write(0x8000_0000+5<<20, []byte("hole written"))
	got := make([]byte, 12)
	r.Read(0x8000_0000+5<<20, got)
	if string(got) != "hole written" {
		t.Errorf("a write to a hole's RAM reads back %q", got)
	}
}

// savePieces writes m (16 MiB) with data in its 2 MiB pieces 1 and 2 (one
// write across their border) and 7 (its last page), 0 and 3-6 holes, to
// a file it returns; it skips the test where the file system keeps no
// holes.
func savePieces(t *testing.T, m *GuestMemory) *os.File {
	t.Helper()
	m.Write(m.Base()+4<<20-100, bytes.Repeat([]byte{0x5a}, 200))
	m.Write(m.Base()+m.Size()-8, []byte("the end!"))
	f, err := os.Create(filepath.Join(t.TempDir(), "ram"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := m.WriteRAM(f); err != nil {
		t.Fatal(err)
	}
	if d, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_DATA); err != nil || d == 0 {
		t.Skipf("the file system of %s keeps no holes (SEEK_DATA: %d, %v)", f.Name(), d, err)
	}
	return f
}

// filePieces says, from /proc/self/maps, which 2 MiB pieces of r map the
// file name.
func filePieces(t *testing.T, r *GuestMemory, name string) map[uint64]bool {
	t.Helper()
	start, size := r.HostAddr(), uintptr(r.Size())
	fromFile := map[uint64]bool{}
	maps := must(os.ReadFile("/proc/self/maps"))
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err != nil || hi <= start || lo >= start+size {
			continue
		}
		file := strings.HasSuffix(line, name)
		for a := max(lo, start); a < min(hi, start+size); a += hugePageSize {
			fromFile[uint64(a-start)>>21] = file
		}
	}
	return fromFile
}

// TestRAMFileCopiedPieces: the pieces a restore is told to copy are
// private memory holding the file's bytes, not the file's mapping; a
// hole or a piece outside RAM named among them changes nothing.
func TestRAMFileCopiedPieces(t *testing.T) {
	const size = 16 << 20
	m, err := NewGuestMemory(0x8000_0000, size)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := savePieces(t, m)
	r, err := NewGuestMemoryFromFile(0x8000_0000, size, f, []int{1, 5, 7, 8, -1, 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !bytes.Equal(r.Bytes(), m.Bytes()) {
		t.Fatal("the restored RAM differs")
	}
	if n := r.CopiedPieces(); n != 2 {
		t.Errorf("%d pieces copied, want 2 (1 and 7)", n)
	}
	fromFile := filePieces(t, r, f.Name())
	for piece := uint64(0); piece < size>>21; piece++ {
		if wantFile := piece == 2; fromFile[piece] != wantFile {
			t.Errorf("2 MiB piece %d maps the file: %v, want %v", piece, fromFile[piece], wantFile)
		}
	}
	r.Write(0x8000_0000+2<<20, []byte("copied"))
	back := make([]byte, 6)
	f.ReadAt(back, 2<<20)
	if bytes.Equal(back, []byte("copied")) {
		t.Error("a write to a copied piece reached the file")
	}
}
