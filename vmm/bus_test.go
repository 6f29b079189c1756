package vmm

import (
	"encoding/binary"
	"slices"
	"testing"
)

type recordDev struct {
	lastOff uint64
	writes  int
}

func (d *recordDev) ReadMMIO(off uint64, data []byte) {
	d.lastOff = off
	binary.LittleEndian.PutUint32(data, uint32(off)|0xab000000)
}
func (d *recordDev) WriteMMIO(off uint64, data []byte) { d.lastOff = off; d.writes++ }

func TestMMIOBusOffsetsAndOverlap(t *testing.T) {
	var b MMIOBus
	a, c := &recordDev{}, &recordDev{}
	if err := b.Register("a", 0x1000, 0x100, a); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("c", 0x3000, 0x200, c); err != nil {
		t.Fatal(err)
	}
	if err := b.Register("overlap", 0x10f0, 0x20, &recordDev{}); err == nil {
		t.Errorf("an overlapping window was accepted")
	}
	data := make([]byte, 4)
	if !b.Dispatch(0x3010, data, false) || c.lastOff != 0x10 || binary.LittleEndian.Uint32(data) != 0xab000010 {
		t.Errorf("read at 0x3010 reached offset %#x, data %x", c.lastOff, data)
	}
	if !b.Dispatch(0x10fc, data, true) || a.lastOff != 0xfc || a.writes != 1 {
		t.Errorf("write at 0x10fc: offset %#x, writes %d", a.lastOff, a.writes)
	}
	// Accesses that run over a window's end, or hit nothing, are unclaimed
	// and read as zero.
	for _, addr := range []uint64{0x10fe, 0x2000, 0x0, 0x31fe, ^uint64(0) - 1} {
		data := []byte{1, 2, 3, 4}
		if b.Dispatch(addr, data, false) || binary.LittleEndian.Uint32(data) != 0 {
			t.Errorf("access at %#x claimed, or read %x", addr, data)
		}
	}
}

// Accesses counts each window's exits by its name, reads and writes,
// most first; a window that served none, and an access nobody claims,
// are not in it.
func TestMMIOBusAccesses(t *testing.T) {
	var b MMIOBus
	for i, name := range []string{"uart", "disk", "disk", "idle"} {
		if err := b.Register(name, uint64(0x1000*(i+1)), 0x100, &recordDev{}); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 4)
	b.Dispatch(0x1000, data, false) // uart
	for _, a := range []uint64{0x2000, 0x2004, 0x3000} {
		b.Dispatch(a, data, true) // disk, twice at one window, once at the other
	}
	b.Dispatch(0x9000, data, false) // nobody
	want := []WindowAccesses{{"disk", 3}, {"uart", 1}}
	if got := b.Accesses(); !slices.Equal(got, want) {
		t.Errorf("accesses %v, want %v", got, want)
	}
}
