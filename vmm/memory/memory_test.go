package memory

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestGuestMemoryBounds(t *testing.T) {
	m := NewGuestMemoryFromSlice(0x8000_0000, make([]byte, 4096))
	for _, tc := range []struct {
		gpa, n uint64
		ok     bool
	}{
		{0x8000_0000, 4096, true},
		{0x8000_0ff8, 8, true},
		{0x8000_0000, 0, true},
		{0x8000_1000, 0, true},
		{0x7fff_ffff, 1, false},
		{0x8000_0ff9, 8, false},
		{0x8000_1000, 1, false},
		{0x8000_0001, ^uint64(0), false}, // length that would wrap
		{^uint64(0), 2, false},
	} {
		_, err := m.Slice(tc.gpa, tc.n)
		if (err == nil) != tc.ok {
			t.Errorf("Slice(%#x, %#x): err %v, want ok=%v", tc.gpa, tc.n, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Slice(%#x, %#x): error %v does not wrap ErrOutOfRange", tc.gpa, tc.n, err)
		}
	}
}

func TestGuestMemoryReadWrite(t *testing.T) {
	m := NewGuestMemoryFromSlice(0x1000, make([]byte, 64))
	if err := m.Write(0x1008, []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	v, err := m.ReadU64(0x1008)
	if err != nil || v != 0x0807060504030201 {
		t.Errorf("ReadU64 = %#x, %v", v, err)
	}
	if err := m.Write(0x103c, make([]byte, 8)); err == nil {
		t.Errorf("a write crossing the end of RAM was allowed")
	}
	// Slices are capped: appending cannot reach past the window.
	s, _ := m.Slice(0x1000, 4)
	if cap(s) != 4 {
		t.Errorf("slice capacity %d lets a device write past its window", cap(s))
	}
}

func TestNewGuestMemoryMaps(t *testing.T) {
	m, err := NewGuestMemory(0x8000_0000, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Write(m.End()-8, []byte("lastword")); err != nil {
		t.Fatal(err)
	}
}

func TestGuestRAMIsHugePageAligned(t *testing.T) {
	for _, size := range []uint64{16 << 20, 17 << 20, 256 << 20} {
		m, err := NewGuestMemory(0x8000_0000, size)
		if err != nil {
			t.Fatal(err)
		}
		b := m.Bytes()
		if addr := uintptr(unsafe.Pointer(&b[0])); addr%hugePageSize != 0 {
			t.Errorf("%d MiB of RAM mapped at %#x, not on a 2 MiB boundary", size>>20, addr)
		}
		if uint64(len(b)) != size {
			t.Errorf("mapping of %d bytes, want %d", len(b), size)
		}
		b[0], b[len(b)-1] = 1, 2 // both ends are mapped and writable
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// TestGuestRAMLeftOutOfCoreDumps: the mapping carries VM_DONTDUMP ("dd" in
// smaps' VmFlags).
func TestGuestRAMLeftOutOfCoreDumps(t *testing.T) {
	m, err := NewGuestMemory(0x8000_0000, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	start := fmt.Sprintf("%x-", m.HostAddr())
	var flags string
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasPrefix(f[0], start)
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			flags = line
		}
	}
	if flags == "" {
		t.Fatalf("no smaps entry for guest RAM at %s", start)
	}
	if !strings.Contains(" "+flags+" ", " dd ") {
		t.Errorf("guest RAM would be in core dumps: %s", flags)
	}
}
