package vhost

import (
	"errors"
	"math"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm/memory"
)

const (
	ramBase = 0x4000_0000
	ramSize = 1 << 20
)

func testRAM() *memory.GuestMemory {
	return memory.NewGuestMemoryFromSlice(ramBase, make([]byte, ramSize))
}

// TestRingAddrs: each part of a ring is translated to gokvm's mapping of
// the same guest byte.
func TestRingAddrs(t *testing.T) {
	mem := testRAM()
	q := &virtio.Queue{Size: 256, Ready: true, Desc: ramBase + 0x1000, Avail: ramBase + 0x2002, Used: ramBase + 0x3004}
	a, err := RingAddrs(mem, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	host := uint64(mem.HostAddr())
	if a.Index != 1 || a.Flags != 0 || a.Log != 0 {
		t.Errorf("index %d flags %#x log %#x, want 1, 0, 0", a.Index, a.Flags, a.Log)
	}
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"desc", a.Desc, host + 0x1000}, {"avail", a.Avail, host + 0x2002}, {"used", a.Used, host + 0x3004},
	} {
		if c.got != c.want {
			t.Errorf("%s at host %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestRingAddrsRefused: a ring that is not wholly in guest RAM, is
// misaligned, or has a size vhost cannot take is refused, and no address
// comes back.
func TestRingAddrsRefused(t *testing.T) {
	mem := testRAM()
	ok := virtio.Queue{Size: 16, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	end := uint64(ramBase + ramSize)
	for _, c := range []struct {
		name   string
		change func(q *virtio.Queue)
		oob    bool
	}{
		{"not ready", func(q *virtio.Queue) { q.Ready = false }, false},
		{"size 0", func(q *virtio.Queue) { q.Size = 0 }, false},
		{"size 5", func(q *virtio.Queue) { q.Size = 5 }, false},
		{"desc below RAM", func(q *virtio.Queue) { q.Desc = ramBase - 0x100 }, true},
		{"desc at 0", func(q *virtio.Queue) { q.Desc = 0 }, true},
		{"desc straddles the end", func(q *virtio.Queue) { q.Desc = end - 16*8 }, true},
		{"avail past the end", func(q *virtio.Queue) { q.Avail = end }, true},
		{"avail's used_event past the end", func(q *virtio.Queue) { q.Avail = end - (4 + 2*16) }, true},
		{"used's avail_event past the end", func(q *virtio.Queue) { q.Used = end - (4 + 8*16) }, true},
		{"used wraps", func(q *virtio.Queue) { q.Used = math.MaxUint64 - 3 }, true},
		{"desc wraps", func(q *virtio.Queue) { q.Desc = math.MaxUint64 - 15 }, true},
		{"desc misaligned", func(q *virtio.Queue) { q.Desc = ramBase + 8 }, false},
		{"avail misaligned", func(q *virtio.Queue) { q.Avail = ramBase + 0x1001 }, false},
		{"used misaligned", func(q *virtio.Queue) { q.Used = ramBase + 0x2002 }, false},
	} {
		q := ok
		c.change(&q)
		a, err := RingAddrs(mem, &q, 0)
		if err == nil {
			t.Errorf("%s: translated to %+v", c.name, a)
			continue
		}
		if a != (vringAddr{}) {
			t.Errorf("%s: an address came back with the error: %+v", c.name, a)
		}
		if c.oob != errors.Is(err, memory.ErrOutOfRange) {
			t.Errorf("%s: %v (outside RAM: %v)", c.name, err, c.oob)
		}
	}
	// The last bytes of RAM are usable.
	q := ok
	q.Used = end - (6 + 8*16)
	q.Used &^= 3
	if _, err := RingAddrs(mem, &q, 0); err != nil {
		t.Errorf("used ring ending at RAM's end: %v", err)
	}
}

// TestMemTable: guest RAM is one region, at gokvm's mapping.
func TestMemTable(t *testing.T) {
	mem := testRAM()
	mt, err := memTableFor(mem)
	if mem.HostAddr()%4096 != 0 {
		if err == nil {
			t.Errorf("RAM at host %#x not page-aligned, yet a table came back", mem.HostAddr())
		}
		t.Skipf("the test's RAM is not page-aligned at host %#x", mem.HostAddr())
	}
	if err != nil {
		t.Fatal(err)
	}
	r := mt.Regions[0]
	if mt.NRegions != 1 || r.GuestPhysAddr != ramBase || r.MemorySize != ramSize || r.UserspaceAddr != uint64(mem.HostAddr()) || r.FlagsPadding != 0 {
		t.Errorf("table %+v", mt)
	}
	if _, err := memTableFor(memory.NewGuestMemoryFromSlice(ramBase+0x10, make([]byte, 4096))); err == nil {
		t.Error("RAM at an unaligned guest address: a table came back")
	}
}
