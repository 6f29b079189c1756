package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/vmm/memory"
)

// The test driver: a guest's virtio driver written against simulated guest
// memory, talking to a transport through its registers only.

const (
	ramBase = 0x4000_0000
	ramSize = 4 << 20
)

type seg struct {
	gpa      uint64
	n        uint32
	writable bool
}

// qstate is the driver's view of one queue.
type qstate struct {
	desc  uint64
	avail uint64
	used  uint64
	next  uint16 // next free descriptor
	aidx  uint16 // driver's avail index
	seen  uint16 // used entries consumed
}

type driver struct {
	t      *testing.T
	mem    *memory.GuestMemory
	tr     *MMIO
	irqs   chan struct{}
	qsize  uint16
	qstate          // the selected queue
	qs     []qstate // every queue, the selected one as last selected
	cur    int
	alloc  uint64 // bump allocator for buffers
}

// selectQueue makes queue i the one submit, kick and wait work on.
func (d *driver) selectQueue(i int) {
	d.qs[d.cur] = d.qstate
	d.cur = i
	d.qstate = d.qs[i]
}

func newDriver(t *testing.T, version TransportVersion, dev Device) *driver {
	irqs := make(chan struct{}, 1024)
	d := &driver{t: t, mem: memory.NewGuestMemoryFromSlice(ramBase, make([]byte, ramSize)), irqs: irqs}
	d.tr = NewMMIO("test", version, dev, d.mem, func() {
		select {
		case irqs <- struct{}{}:
		default:
		}
	}, nil)
	d.alloc = ramBase + 1<<20
	d.qs = make([]qstate, 1)
	return d
}

func (d *driver) r32(off uint64) uint32 {
	b := make([]byte, 4)
	d.tr.ReadMMIO(off, b)
	return binary.LittleEndian.Uint32(b)
}

func (d *driver) w32(off uint64, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	d.tr.WriteMMIO(off, b)
}

// setup negotiates features (all offered but those in drop) and readies
// queue 0 with size qsize, the way Linux's virtio_mmio driver does.
func (d *driver) setup(qsize uint16, drop uint64) {
	d.w32(regStatus, 0)
	d.w32(regStatus, StatusAcknowledge)
	d.w32(regStatus, StatusAcknowledge|StatusDriver)
	var offered uint64
	for sel := uint32(0); sel < 2; sel++ {
		d.w32(regDeviceFeaturesSel, sel)
		offered |= uint64(d.r32(regDeviceFeatures)) << (32 * sel)
	}
	want := offered &^ drop
	for sel := uint32(0); sel < 2; sel++ {
		d.w32(regDriverFeaturesSel, sel)
		d.w32(regDriverFeatures, uint32(want>>(32*sel)))
	}
	legacy := d.r32(regVersion) == 1
	if !legacy {
		d.w32(regStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
		if d.r32(regStatus)&StatusFeaturesOK == 0 {
			d.t.Fatalf("device refused features %#x", want)
		}
	} else {
		d.w32(regGuestPageSize, 4096)
	}
	d.qsize = qsize
	// Fresh rings, as a driver allocates them zeroed.
	d.mem.Write(ramBase, make([]byte, 0x40000))
	nq := len(d.tr.queues)
	d.qs = make([]qstate, nq)
	for i := 0; i < nq; i++ {
		d.cur = i
		base := ramBase + uint64(i)*0x10000
		d.w32(regQueueSel, uint32(i))
		if max := d.r32(regQueueNumMax); max < uint32(qsize) {
			d.t.Fatalf("QueueNumMax %d < %d", max, qsize)
		}
		d.w32(regQueueNum, uint32(qsize))
		if legacy {
			d.desc = base
			d.avail = d.desc + 16*uint64(qsize)
			d.used = (d.avail + 6 + 2*uint64(qsize) + 4095) &^ 4095
			d.w32(regQueueAlign, 4096)
			d.w32(regQueuePFN, uint32(d.desc/4096))
		} else {
			d.desc, d.avail, d.used = base, base+0x4000, base+0x8000
			d.w32(regQueueDescLow, uint32(d.desc))
			d.w32(regQueueDescHigh, uint32(d.desc>>32))
			d.w32(regQueueDriverLow, uint32(d.avail))
			d.w32(regQueueDriverHigh, 0)
			d.w32(regQueueDeviceLow, uint32(d.used))
			d.w32(regQueueDeviceHigh, 0)
			d.w32(regQueueReady, 1)
		}
		d.qs[i] = d.qstate
	}
	d.selectQueue(0)
	if legacy {
		d.w32(regStatus, StatusAcknowledge|StatusDriver|StatusDriverOK)
		return
	}
	d.w32(regStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
	if s := d.r32(regStatus); s&StatusDeviceNeedsReset != 0 {
		d.t.Fatalf("device needs reset right after setup (status %#x)", s)
	}
}

// buf allocates guest memory holding b (or n zero bytes).
func (d *driver) buf(b []byte, n int) uint64 {
	if b == nil {
		b = make([]byte, n)
	}
	gpa := d.alloc
	d.alloc += uint64(len(b)+15) &^ 15
	if err := d.mem.Write(gpa, b); err != nil {
		d.t.Fatal(err)
	}
	return gpa
}

func (d *driver) putDesc(table uint64, i uint16, addr uint64, n uint32, flags, next uint16) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], addr)
	binary.LittleEndian.PutUint32(b[8:], n)
	binary.LittleEndian.PutUint16(b[12:], flags)
	binary.LittleEndian.PutUint16(b[14:], next)
	if err := d.mem.Write(table+16*uint64(i), b); err != nil {
		d.t.Fatal(err)
	}
}

// submit makes a chain of segs available (through an indirect table when
// indirect) and returns its head.
func (d *driver) submit(segs []seg, indirect bool) uint16 {
	head := d.next
	if indirect {
		table := d.buf(nil, 16*len(segs))
		for i, s := range segs {
			flags := uint16(0)
			if s.writable {
				flags |= descFWrite
			}
			if i < len(segs)-1 {
				flags |= descFNext
			}
			d.putDesc(table, uint16(i), s.gpa, s.n, flags, uint16(i+1))
		}
		d.putDesc(d.desc, head, table, uint32(16*len(segs)), descFIndirect, 0)
		d.next = (d.next + 1) % d.qsize
	} else {
		for i, s := range segs {
			idx := d.next
			d.next = (d.next + 1) % d.qsize
			flags := uint16(0)
			if s.writable {
				flags |= descFWrite
			}
			if i < len(segs)-1 {
				flags |= descFNext
			}
			d.putDesc(d.desc, idx, s.gpa, s.n, flags, d.next)
		}
	}
	d.publish(head)
	return head
}

// publish puts head in the available ring.
func (d *driver) publish(head uint16) {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, head)
	d.mem.Write(d.avail+4+2*uint64(d.aidx%d.qsize), b)
	d.aidx++
	// Release, as a driver's barrier before the index update.
	w := d.word(d.avail)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&0xffff|uint32(d.aidx)<<16) {
			return
		}
	}
}

// word is the aligned 32-bit word of guest RAM at gpa, for ring fields the
// device reads and writes atomically.
func (d *driver) word(gpa uint64) *uint32 {
	s, err := d.mem.Slice(gpa, 4)
	if err != nil {
		d.t.Fatal(err)
	}
	return (*uint32)(unsafe.Pointer(&s[0]))
}

// setAvailFlags writes the available ring's flags.
func (d *driver) setAvailFlags(f uint16) {
	w := d.word(d.avail)
	for {
		old := atomic.LoadUint32(w)
		if atomic.CompareAndSwapUint32(w, old, old&^0xffff|uint32(f)) {
			return
		}
	}
}

func (d *driver) kick() { d.w32(regQueueNotify, uint32(d.cur)) }

func (d *driver) usedIdx() uint16 {
	return uint16(atomic.LoadUint32(d.word(d.used)) >> 16)
}

// wait waits for the used ring to reach n entries past what was seen and
// returns the (head, len) pairs.
func (d *driver) wait(n int) [][2]uint32 {
	deadline := time.Now().Add(5 * time.Second)
	for uint16(d.usedIdx()-d.seen) < uint16(n) {
		if time.Now().After(deadline) {
			d.t.Fatalf("device completed %d of %d requests (status %#x)", d.usedIdx()-d.seen, n, d.r32(regStatus))
		}
		time.Sleep(time.Millisecond)
	}
	var out [][2]uint32
	for i := 0; i < n; i++ {
		e := make([]byte, 8)
		d.mem.Read(d.used+4+8*uint64(d.seen%d.qsize), e)
		out = append(out, [2]uint32{binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])})
		d.seen++
	}
	return out
}

// waitStatus waits until the device status has bit set.
func (d *driver) waitStatus(bit uint32) {
	deadline := time.Now().Add(5 * time.Second)
	for d.r32(regStatus)&bit == 0 {
		if time.Now().After(deadline) {
			d.t.Fatalf("status %#x never got %#x", d.r32(regStatus), bit)
		}
		time.Sleep(time.Millisecond)
	}
}
