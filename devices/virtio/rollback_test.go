package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// rollbackQueue is a queue of 8 driven directly, with n one-buffer chains
// available.
func rollbackQueue(t *testing.T, n int) (*virtiotest.Driver, *virtio.Queue) {
	t.Helper()
	d := virtiotest.New(t, virtio.Modern, &echoDevice{})
	d.UseRing(8, ramBase, ramBase+0x1000, ramBase+0x2000)
	q := &virtio.Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	if err := q.Activate(d.Mem, true, false); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d.Submit([]virtiotest.Seg{{GPA: ramBase + 0x10000 + uint64(i)*0x100, N: 64, Writable: true}}, false)
	}
	return d, q
}

// popAdd takes n chains and adds a used element for each, returning
// their heads.
func popAdd(t *testing.T, q *virtio.Queue, n int) []uint16 {
	t.Helper()
	var heads []uint16
	var c virtio.Chain
	for range n {
		ok, err := q.Pop(&c)
		if !ok || err != nil {
			t.Fatalf("pop: %v %v", ok, err)
		}
		if err := q.AddUsed(c.Head, 64); err != nil {
			t.Fatal(err)
		}
		heads = append(heads, c.Head)
	}
	return heads
}

// TestQueueRollback: chains taken and used elements added since a mark,
// none published, are given back: the same chains are taken again in the
// same order, the driver never sees the first elements, and the queue
// goes on from there.
func TestQueueRollback(t *testing.T) {
	d, q := rollbackQueue(t, 5)
	first := popAdd(t, q, 1)
	if err := q.PublishUsed(); err != nil {
		t.Fatal(err)
	}
	m := q.Mark()
	taken := popAdd(t, q, 3)
	if err := q.Rollback(m); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if q.NextAvail() != 1 || d.UsedIdx() != 1 {
		t.Fatalf("after the rollback: next available %d, used index %d; want 1 and 1", q.NextAvail(), d.UsedIdx())
	}
	again := popAdd(t, q, 4)
	for i := range taken {
		if again[i] != taken[i] {
			t.Errorf("chain %d taken again is %d, was %d", i, again[i], taken[i])
		}
	}
	if err := q.PublishUsed(); err != nil {
		t.Fatal(err)
	}
	used := d.Wait(5)
	want := append(first, again...)
	for i, u := range used {
		if u.Head != uint32(want[i]) {
			t.Errorf("used element %d is chain %d, want %d", i, u.Head, want[i])
		}
	}
	if ok, _ := q.Pop(&virtio.Chain{}); ok {
		t.Error("a sixth chain taken from five")
	}
}

// TestQueueRollbackRefused: what the driver saw cannot be rolled back,
// nor a mark the device never passed; a refused rollback changes nothing.
func TestQueueRollbackRefused(t *testing.T) {
	d, q := rollbackQueue(t, 4)
	m := q.Mark()
	popAdd(t, q, 2)
	if err := q.PublishUsed(); err != nil {
		t.Fatal(err)
	}
	popAdd(t, q, 1)
	if err := q.Rollback(m); err == nil {
		t.Error("a rollback over published elements accepted")
	}
	ahead := q.Mark()
	popAdd(t, q, 1)
	if err := q.Rollback(ahead); err != nil {
		t.Fatalf("rollback over an unpublished element: %v", err)
	}
	later := q.Mark()
	if err := q.Rollback(m); err == nil {
		t.Error("a rollback past published elements accepted")
	}
	popAdd(t, q, 1)
	if err := q.Rollback(later); err != nil {
		t.Fatal(err)
	}
	virtio.SetLastAvail(q, q.NextAvail()-1) // the device is before the mark now
	if err := q.Rollback(later); err == nil {
		t.Error("a rollback forward accepted")
	}
	if q.NextAvail() != 2 || d.UsedIdx() != 2 {
		t.Errorf("refused rollbacks moved the queue: next available %d, used %d", q.NextAvail(), d.UsedIdx())
	}
}

// TestQueueEnableNotificationsAt: a device that gave chains back asks for
// a kick at the available index it saw, not at its next entry, which
// the driver's new entries would never cross.
func TestQueueEnableNotificationsAt(t *testing.T) {
	d, q := rollbackQueue(t, 3)
	m := q.Mark()
	popAdd(t, q, 3)
	seen := q.NextAvail()
	if err := q.Rollback(m); err != nil {
		t.Fatal(err)
	}
	more, err := q.EnableNotificationsAt(seen)
	if err != nil || more {
		t.Fatalf("nothing new: more %v, %v", more, err)
	}
	b := make([]byte, 2)
	d.Mem.Read(q.Used+4+8*8, b)
	if ev := binary.LittleEndian.Uint16(b); ev != seen {
		t.Errorf("avail_event %d, want %d (the index seen)", ev, seen)
	}
	if more, _ := q.EnableNotifications(); !more {
		t.Error("EnableNotifications after a rollback: the given-back chains are not there")
	}
	d.Submit([]virtiotest.Seg{{GPA: ramBase + 0x20000, N: 64, Writable: true}}, false)
	if more, err := q.EnableNotificationsAt(seen); err != nil || !more {
		t.Errorf("a chain made available: more %v, %v", more, err)
	}
}
