package memory

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// restoredRAM maps a RAM file of pages pages, page i holding byte i+1.
func restoredRAM(t *testing.T, pages int) *GuestMemory {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ram")
	b := make([]byte, pages*pageSize)
	for i := 0; i < pages; i++ {
		b[i*pageSize] = byte(i + 1)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := NewGuestMemoryFromFile(0x40000000, uint64(len(b)), f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sink keeps a test's read of guest RAM from being optimized away.
var sink byte

func pagemap(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skipf("no pagemap: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestWorkingSet: pages the guest wrote are private copies, pages it only
// read are mapped from the file, the rest untouched; Prefault on a fresh
// restore of the same file maps the same pages the same way.
func TestWorkingSet(t *testing.T) {
	const pages = 256
	pm := pagemap(t)
	m := restoredRAM(t, pages)
	ws, err := m.WorkingSet(pm)
	if err != nil {
		t.Fatal(err)
	}
	if r, w := ws.Counts(); r != 0 || w != 0 {
		t.Fatalf("a fresh mapping has %d pages read and %d written", r, w)
	}
	mem := m.Bytes()
	written := []int{3, 4, 100, 255}
	for _, p := range written {
		mem[p*pageSize+1] = 0xaa
	}
	sink = mem[200*pageSize] // a read (fault-around may map neighbours too)
	if ws, err = m.WorkingSet(pm); err != nil {
		t.Fatal(err)
	}
	for p, u := range ws {
		want := u
		switch {
		case p == 3 || p == 4 || p == 100 || p == 255:
			want = PageWritten
		case p == 200:
			want = PageRead
		}
		if u != want || u == PageWritten && want != PageWritten {
			t.Errorf("page %d: %d, want %d", p, u, want)
		}
	}

	m2 := restoredRAM(t, pages)
	if err := m2.Prefault(ws); errors.Is(err, ErrNoPopulate) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	got, err := m2.WorkingSet(pm)
	if err != nil {
		t.Fatal(err)
	}
	for p := range ws {
		if (ws[p] == PageWritten) != (got[p] == PageWritten) || ws[p] != PageUntouched && got[p] == PageUntouched {
			t.Errorf("page %d after Prefault: %d, recorded %d", p, got[p], ws[p])
		}
	}
	// Prefaulting changes nothing the guest sees.
	for i := 0; i < pages; i++ {
		if m2.Bytes()[i*pageSize] != byte(i+1) || m2.Bytes()[i*pageSize+1] != 0 {
			t.Fatalf("page %d changed by Prefault", i)
		}
	}
	if err := m2.Prefault(ws[1:]); !errors.Is(err, ErrBadSize) {
		t.Errorf("a working set of another size: %v, want ErrBadSize", err)
	}
}

func TestWorkingSetFile(t *testing.T) {
	ws := WorkingSet{PageRead, PageUntouched, PageWritten, PageWritten, PageRead, PageUntouched, PageUntouched}
	var b bytes.Buffer
	if _, err := ws.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWorkingSet(bytes.NewReader(b.Bytes()), len(ws))
	if err != nil || !reflect.DeepEqual(got, ws) {
		t.Fatalf("read back %v, %v; want %v", got, err, ws)
	}
	if _, err := ReadWorkingSet(bytes.NewReader(b.Bytes()), len(ws)+1); err == nil {
		t.Error("a working set for another RAM size was read")
	}
	if _, err := ReadWorkingSet(bytes.NewReader(b.Bytes()[:b.Len()-1]), len(ws)); err == nil {
		t.Error("a truncated working set was read")
	}
	bad := bytes.Clone(b.Bytes())
	bad[16] = 0xff // use 3
	if _, err := ReadWorkingSet(bytes.NewReader(bad), len(ws)); err == nil {
		t.Error("a page use of 3 was read")
	}
}

// FuzzReadWorkingSet: whatever the file holds, reading it fails cleanly
// or gives a set that writes back to the same bytes.
func FuzzReadWorkingSet(f *testing.F) {
	var b bytes.Buffer
	WorkingSet{PageRead, PageWritten, PageUntouched}.WriteTo(&b)
	f.Add(b.Bytes(), 3)
	f.Add([]byte("GKVMWS01"), 1<<30)
	f.Fuzz(func(t *testing.T, data []byte, pages int) {
		ws, err := ReadWorkingSet(bytes.NewReader(data), pages)
		if err != nil {
			return
		}
		var out bytes.Buffer
		ws.WriteTo(&out)
		if !bytes.Equal(out.Bytes(), data[:out.Len()]) {
			t.Fatalf("wrote back %x from %x", out.Bytes(), data)
		}
	})
}

// A page of anonymous RAM (a restored RAM file's hole) that was only read
// maps the shared zero page: it counts as read, not written, so that a
// prefault does not allocate memory for it.
func TestWorkingSetZeroPageIsRead(t *testing.T) {
	pm := pagemap(t)
	m, err := NewGuestMemory(0x40000000, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// 4 KiB pages, so the read maps the 4 KiB zero page, not a huge one.
	if err := unix.Madvise(m.Bytes(), unix.MADV_NOHUGEPAGE); err != nil {
		t.Fatal(err)
	}
	mem := m.Bytes()
	sink = mem[10*pageSize]
	mem[600*pageSize] = 1
	ws, err := m.WorkingSet(pm)
	if err != nil {
		t.Fatal(err)
	}
	if ws[10] != PageRead {
		t.Errorf("a page only read is %v, want read (%v)", ws[10], PageRead)
	}
	if ws[600] != PageWritten {
		t.Errorf("a page written is %v, want written (%v)", ws[600], PageWritten)
	}
}
