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

// saveAndRestore writes m to a file, checks that the file's data lies in
// the 2 MiB-aligned ranges want (skipping the test where the file system
// keeps no holes: then hole is not one), and restores RAM from it, which
// must read back as m.
func saveAndRestore(t *testing.T, m *GuestMemory, hole int64, want []fileRange) (*GuestMemory, *os.File) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "ram"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := m.WriteRAM(f); err != nil {
		t.Fatal(err)
	}
	if d, err := unix.Seek(int(f.Fd()), hole, unix.SEEK_DATA); err != nil || d == hole {
		t.Skipf("the file system of %s keeps no holes (SEEK_DATA from %d: %d, %v)", f.Name(), hole, d, err)
	}
	runs, err := dataChunks(f, m.Size(), hugePageSize)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(runs, want) {
		t.Fatalf("data pieces %v, want %v", runs, want)
	}
	r, err := NewGuestMemoryFromFile(m.Base(), m.Size(), f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !bytes.Equal(r.Bytes(), m.Bytes()) {
		t.Fatal("the restored RAM differs")
	}
	return r, f
}

// filePieces says, from /proc/self/maps, which 2 MiB pieces of r map the
// file f.
func filePieces(t *testing.T, r *GuestMemory, f *os.File) map[uint64]bool {
	t.Helper()
	name := f.Name()
	if real, err := filepath.EvalSymlinks(name); err == nil {
		name = real // as /proc/self/maps shows it
	}
	start, size := r.HostAddr(), uintptr(r.Size())
	fromFile := map[uint64]bool{}
	for _, line := range strings.Split(string(must(os.ReadFile("/proc/self/maps"))), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err != nil || hi <= start || lo >= start+size {
			continue
		}
		file := strings.HasSuffix(line, name)
		for a := max(lo, start); a < min(hi, start+size); a += hugePageSize {
			fromFile[uint64(a-start)/hugePageSize] = file
		}
	}
	return fromFile
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
	// Data in pieces 1 and 2 (one write across their border) and 7 (its
	// last page); 0, 3-6 are holes.
	m.Write(0x8000_0000+4<<20-100, bytes.Repeat([]byte{0x5a}, 200))
	m.Write(0x8000_0000+size-8, []byte("the end!"))
	r, f := saveAndRestore(t, m, 0, []fileRange{{2 << 20, 4 << 20}, {14 << 20, 2 << 20}})
	fromFile := filePieces(t, r, f)
	for piece := uint64(0); piece < size/hugePageSize; piece++ {
		if wantFile := piece == 1 || piece == 2 || piece == 7; fromFile[piece] != wantFile {
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

// A file whose data is scattered in more pieces than a process should
// map one by one is mapped whole.
func TestLimitMappings(t *testing.T) {
	var data []fileRange
	for i := uint64(0); i < maxFileMappings; i++ {
		data = append(data, fileRange{2 * i * hugePageSize, hugePageSize})
	}
	const size = 2 * maxFileMappings * hugePageSize
	if got := limitMappings(data, size); len(got) != maxFileMappings {
		t.Errorf("%d ranges became %d; that many are mapped as they are", len(data), len(got))
	}
	data = append(data, fileRange{size + hugePageSize, hugePageSize})
	if got := limitMappings(data, size+2*hugePageSize); !slices.Equal(got, []fileRange{{0, size + 2*hugePageSize}}) {
		t.Errorf("%d ranges gave %v, want the whole file", len(data), got[:min(len(got), 3)])
	}
}

// RAM whose size is not a whole number of 2 MiB pieces restores the same:
// its short last piece (which WriteRAM always writes) maps the file.
func TestRAMFileShortLastPiece(t *testing.T) {
	const size = 5<<20 + 4096
	m, err := NewGuestMemory(0x8000_0000, size)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Write(0x8000_0000+4096, []byte("first piece"))
	r, f := saveAndRestore(t, m, 2<<20, []fileRange{{0, 2 << 20}, {4 << 20, size - 4<<20}})
	if fromFile := filePieces(t, r, f); !fromFile[0] || fromFile[1] || !fromFile[2] {
		t.Errorf("pieces mapping the file: %v, want 0 and 2", fromFile)
	}
	r.Write(0x8000_0000+size-1, []byte{7})
	last := make([]byte, 1)
	if r.Read(0x8000_0000+size-1, last); last[0] != 7 {
		t.Errorf("the last byte reads %d after writing 7", last[0])
	}
}
