package virtiotest

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/devices/virtio"
)

// Seg is one buffer of a chain: guest address, length, and whether the
// device writes it.
type Seg struct {
	GPA      uint64
	N        uint32
	Writable bool
}

// Used is one element of the used ring.
type Used struct {
	Head uint32 // the chain's head descriptor
	Len  uint32 // bytes the device wrote
}

// ring is the driver's view of one queue.
type ring struct {
	desc  uint64
	avail uint64
	used  uint64
	next  uint16 // next free descriptor
	aidx  uint16 // driver's avail index
	seen  uint16 // used entries consumed
}

// UseRing lays out the selected queue's rings by hand, for tests that
// drive a virtio.Queue directly rather than through the transport.
func (d *Driver) UseRing(size uint16, desc, avail, used uint64) {
	d.qsize = size
	d.rings[d.cur] = ring{desc: desc, avail: avail, used: used}
}

// SelectQueue makes queue i the one Submit, Kick and Wait work on.
func (d *Driver) SelectQueue(i int) { d.cur = i }

func (d *Driver) ring() *ring { return &d.rings[d.cur] }

// DescTable is the guest address of the selected queue's descriptor
// table.
func (d *Driver) DescTable() uint64 { return d.ring().desc }

// Buf allocates guest memory holding b (or n zero bytes) and returns its
// address. Buffers are 16-byte aligned and never reused.
func (d *Driver) Buf(b []byte, n int) uint64 {
	if b == nil {
		b = make([]byte, n)
	}
	gpa := d.alloc
	d.alloc += uint64(len(b)+15) &^ 15
	if err := d.Mem.Write(gpa, b); err != nil {
		d.T.Fatal(err)
	}
	return gpa
}

// AlignNext makes the next Buf start offset bytes past a multiple of
// align (a power of 2).
func (d *Driver) AlignNext(align, offset uint64) {
	d.alloc = (d.alloc+align-1)&^(align-1) + offset
}

// PutDesc writes descriptor i of the table at guest address table.
func (d *Driver) PutDesc(table uint64, i uint16, addr uint64, n uint32, flags, next uint16) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
	if err := d.Mem.Write(table+16*uint64(i), b); err != nil {
		d.T.Fatal(err)
	}
}

// Submit makes a chain of segs available on the selected queue (through
// an indirect table when indirect) and returns its head. It does not kick.
func (d *Driver) Submit(segs []Seg, indirect bool) uint16 {
	r := d.ring()
	head := r.next
	if indirect {
		table := d.Buf(nil, 16*len(segs))
		for i, s := range segs {
			d.PutDesc(table, uint16(i), s.GPA, s.N, segFlags(s, i < len(segs)-1), uint16(i+1))
		}
		d.PutDesc(r.desc, head, table, uint32(16*len(segs)), virtio.DescFIndirect, 0)
		r.next = (r.next + 1) % d.qsize
	} else {
		for i, s := range segs {
			idx := r.next
			r.next = (r.next + 1) % d.qsize
			d.PutDesc(r.desc, idx, s.GPA, s.N, segFlags(s, i < len(segs)-1), r.next)
		}
	}
	d.Publish(head)
	return head
}

func segFlags(s Seg, more bool) uint16 {
	var f uint16
	if s.Writable {
		f |= virtio.DescFWrite
	}
	if more {
		f |= virtio.DescFNext
	}
	return f
}

// Publish puts head in the selected queue's available ring and publishes
// the new available index.
func (d *Driver) Publish(head uint16) {
	r := d.ring()
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, head)
	if err := d.Mem.Write(r.avail+4+2*uint64(r.aidx%d.qsize), b); err != nil {
		d.T.Fatal(err)
	}
	r.aidx++
	// Release, as a driver's barrier before the index update.
	w := d.word(r.avail)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&0xffff|uint32(r.aidx)<<16) {
			return
		}
	}
}

// SetAvailIdx sets the driver's available index as the next Publish
// continues from it (a hostile driver jumping ahead).
func (d *Driver) SetAvailIdx(idx uint16) { d.ring().aidx = idx }

// word is the aligned 32-bit word of guest RAM at gpa, for ring fields the
// device reads and writes atomically.
func (d *Driver) word(gpa uint64) *uint32 {
	s, err := d.Mem.Slice(gpa, 4)
	if err != nil {
		d.T.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&s[0]))
}

// SetAvailFlags writes the selected queue's available ring flags
// (virtio.AvailFNoInterrupt).
func (d *Driver) SetAvailFlags(f uint16) {
	w := d.word(d.ring().avail)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^0xffff|uint32(f)) {
			return
		}
	}
}

// Kick notifies the selected queue (virtio-mmio's QueueNotify, virtio-pci's
// doorbell).
func (d *Driver) Kick() { d.tr.kick(d.cur) }

// UsedIdx is the selected queue's used index as the device published it.
func (d *Driver) UsedIdx() uint16 {
	return uint16(atomic.LoadUint32(d.word(d.ring().used)) >> 16)
}

// Pending is how many used elements the device published on the selected
// queue that Wait has not consumed.
func (d *Driver) Pending() int { return int(uint16(d.UsedIdx() - d.ring().seen)) }

// Wait waits (up to 5 seconds, then fails the test) until the device has
// used n more chains of the selected queue, and returns their elements.
func (d *Driver) Wait(n int) []Used {
	r := d.ring()
	deadline := time.Now().Add(5 * time.Second)
	for d.Pending() < n {
		if time.Now().After(deadline) {
			d.T.Fatalf("device completed %d of %d requests (status %#x)", d.Pending(), n, d.Status())
		}
		time.Sleep(time.Millisecond)
	}
	var out []Used
	for range n {
		e := make([]byte, 8)
		if err := d.Mem.Read(r.used+4+8*uint64(r.seen%d.qsize), e); err != nil {
			d.T.Fatal(err)
		}
		out = append(out, Used{Head: binary.LittleEndian.Uint32(e), Len: binary.LittleEndian.Uint32(e[4:])})
		r.seen++
	}
	return out
}

// SetUsedEvent writes the selected queue's used_event (EVENT_IDX): the
// driver wants an interrupt once the device uses the entry at idx, as
// Linux's driver asks after consuming what was used so far.
func (d *Driver) SetUsedEvent(idx uint16) {
	gpa := d.ring().avail + 4 + 2*uint64(d.qsize)
	w := d.word(gpa &^ 3)
	shift := 8 * (gpa & 2)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^(0xffff<<shift)|uint32(idx)<<shift) {
			return
		}
	}
}

// AvailEvent is the selected queue's avail_event (EVENT_IDX) as the
// device last wrote it: the available index at which it wants the next
// kick.
func (d *Driver) AvailEvent() uint16 {
	gpa := d.ring().used + 4 + 8*uint64(d.qsize)
	return uint16(atomic.LoadUint32(d.word(gpa&^3)) >> (8 * (gpa & 2)))
}
