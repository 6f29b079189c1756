package vmm

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rssWithout leaves out all of a range that is several mappings (a
// restored machine's RAM: its file's data and anonymous holes), not only
// the first.
func TestRSSWithoutSplitRange(t *testing.T) {
	const size = 8 << 20
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	// As guest RAM is: not merged with a neighbour's mapping.
	if err := unix.Madvise(b, unix.MADV_DONTDUMP); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		b[i] = 1
	}
	// Three mappings: the middle one read-only.
	if err := unix.Mprotect(b[2<<20:6<<20], unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	lo := uintptr(unsafe.Pointer(&b[0]))
	// One reading of smaps, summed with and without the range: the rest
	// of the process (the race detector's memory, a collection) cannot
	// move between the two.
	text, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := smapsWithout(bytes.NewReader(text), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	without, _, err := smapsWithout(bytes.NewReader(text), lo, lo+size)
	if err != nil {
		t.Fatal(err)
	}
	// All 8 MiB are resident; a neighbour merged into the range's
	// mappings would take more off, never less.
	if d := all - without; d < 8<<10 {
		t.Errorf("leaving out the 8 MiB range took %d KiB off the RSS (%d - %d), want 8192", d, all, without)
	}
}
