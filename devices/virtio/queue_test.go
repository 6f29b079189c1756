package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

const ramBase = virtiotest.RAMBase

// TestQueueEventIdx checks the used_event and avail_event arithmetic on a
// queue driven directly.
func TestQueueEventIdx(t *testing.T) {
	d := virtiotest.New(t, virtio.Modern, &echoDevice{})
	q := &virtio.Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	if err := q.Activate(d.Mem, true, false); err != nil {
		t.Fatal(err)
	}
	setUsedEvent := func(v uint16) {
		b := make([]byte, 2)
		binary.LittleEndian.PutUint16(b, v)
		d.Mem.Write(q.Avail+4+2*8, b)
	}
	// The driver wants an interrupt once entry 2 is used (used_event=2).
	setUsedEvent(2)
	q.Push(0, 0)
	q.Push(1, 0)
	if q.ShouldInterrupt() {
		t.Errorf("interrupt before used_event was crossed")
	}
	q.Push(2, 0)
	if !q.ShouldInterrupt() {
		t.Errorf("no interrupt when used_event was crossed")
	}
	q.Push(3, 0)
	if q.ShouldInterrupt() {
		t.Errorf("interrupt again without a new used_event")
	}
	// avail_event tells the driver where to kick next.
	virtio.SetLastAvail(q, 5)
	q.EnableNotifications()
	b := make([]byte, 2)
	d.Mem.Read(q.Used+4+8*8, b)
	if binary.LittleEndian.Uint16(b) != 5 {
		t.Errorf("avail_event = %d, want 5", binary.LittleEndian.Uint16(b))
	}
}

func TestQueueActivateChecksLayout(t *testing.T) {
	mem := virtiotest.New(t, virtio.Modern, &echoDevice{}).Mem
	for _, q := range []virtio.Queue{
		{MaxSize: 8, Size: 6, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},                  // not a power of 2
		{MaxSize: 8, Size: 16, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},                 // above max
		{MaxSize: 8, Size: 8, Desc: ramBase + 8, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},              // misaligned
		{MaxSize: 8, Size: 8, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + virtiotest.RAMSize - 16}, // used ring past RAM
		{MaxSize: 8, Size: 8, Desc: 0x1000, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},                   // below RAM
	} {
		if err := q.Activate(mem, false, false); err == nil {
			t.Errorf("queue %+v accepted", q)
		}
	}
}

// TestQueueHotPathAllocatesNothing: popping a chain (indirect here) and
// returning it allocates nothing once the Chain's slice has grown.
func TestQueueHotPathAllocatesNothing(t *testing.T) {
	d := virtiotest.New(t, virtio.Modern, &echoDevice{})
	d.UseRing(8, ramBase, ramBase+0x1000, ramBase+0x2000)
	q := &virtio.Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	if err := q.Activate(d.Mem, true, true); err != nil {
		t.Fatal(err)
	}
	d.Submit([]virtiotest.Seg{{GPA: ramBase + 0x10000, N: 16}, {GPA: ramBase + 0x11000, N: 512, Writable: true}}, true)
	var c virtio.Chain
	allocs := testing.AllocsPerRun(50, func() {
		ok, err := q.Pop(&c)
		if !ok || err != nil || len(c.Buffers) != 2 {
			t.Fatalf("pop: %v %v %d", ok, err, len(c.Buffers))
		}
		q.Push(c.Head, 512)
		q.ShouldInterrupt()
		q.EnableNotifications()
		q.Unpop() // the same chain again next round
	})
	if allocs != 0 {
		t.Errorf("Pop/Push/ShouldInterrupt allocate %.1f times per request", allocs)
	}
}
