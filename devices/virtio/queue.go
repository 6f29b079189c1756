package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/vmm/memory"
)

// MaxQueueSize is the largest queue the devices offer.
const MaxQueueSize = 256

// ErrBadChain is wrapped by every malformed descriptor chain: a loop, an
// index past the table, an address outside guest RAM, a length that
// overflows, nested indirect tables.
var ErrBadChain = errors.New("malformed descriptor chain")

// Buffer is one guest buffer of a chain, as a host slice of guest RAM.
type Buffer struct {
	Data     []byte
	Writable bool // device-writable (VIRTQ_DESC_F_WRITE)
}

// Chain is a popped descriptor chain. Its buffers slice is reused between
// pops, so a device that keeps a Chain per queue allocates nothing per
// request.
type Chain struct {
	Head    uint16
	Buffers []Buffer
}

// ReadableLen and WritableLen sum the buffer lengths of each direction.
func (c *Chain) ReadableLen() (n int) {
	for _, b := range c.Buffers {
		if !b.Writable {
			n += len(b.Data)
		}
	}
	return n
}

func (c *Chain) WritableLen() (n int) {
	for _, b := range c.Buffers {
		if b.Writable {
			n += len(b.Data)
		}
	}
	return n
}

// Queue is one split virtqueue as the device sees it. The transport builds
// it from the driver's register values when the driver sets DRIVER_OK; from
// then on only the device's goroutine uses it, and no register write
// changes it (the transport keeps the driver's values apart).
type Queue struct {
	MaxSize uint16
	Size    uint16
	Ready   bool
	Desc    uint64 // descriptor table
	Avail   uint64 // driver area
	Used    uint64 // device area

	EventIdx bool // VIRTIO_RING_F_EVENT_IDX negotiated
	Indirect bool // VIRTIO_RING_F_INDIRECT_DESC negotiated

	mem        *memory.GuestMemory
	lastAvail  uint16
	usedIdx    uint16 // published used index
	pendingU   uint16 // used index including unpublished elements
	signalledU uint16 // used index at the last interrupt decision
}

// errNotActive is returned by a queue used without a successful Activate:
// a device bug, never a reason to panic.
var errNotActive = errors.New("queue not activated")

// Reset forgets the driver's setup.
func (q *Queue) Reset() {
	*q = Queue{MaxSize: q.MaxSize}
}

// Activate checks the driver's layout against guest memory and readies the
// queue for the device.
func (q *Queue) Activate(mem *memory.GuestMemory, eventIdx, indirect bool) error {
	if q.Size == 0 || q.Size > q.MaxSize || q.Size&(q.Size-1) != 0 {
		return fmt.Errorf("queue size %d is not a power of 2 up to %d", q.Size, q.MaxSize)
	}
	n := uint64(q.Size)
	for _, r := range []struct {
		name       string
		addr, size uint64
		alignment  uint64
	}{
		{"descriptor table", q.Desc, 16 * n, 16},
		{"available ring", q.Avail, 6 + 2*n, 2},
		{"used ring", q.Used, 6 + 8*n, 4},
	} {
		if r.addr%r.alignment != 0 {
			return fmt.Errorf("%s at %#x is not %d-byte aligned", r.name, r.addr, r.alignment)
		}
		if !mem.Contains(r.addr, r.size) {
			return fmt.Errorf("%s at %#x+%#x is outside guest RAM", r.name, r.addr, r.size)
		}
	}
	q.mem, q.EventIdx, q.Indirect = mem, eventIdx, indirect
	q.lastAvail, q.usedIdx, q.pendingU, q.signalledU = 0, 0, 0, 0
	return nil
}

// active reports whether Activate readied the queue: every ring access
// checks it, so a queue used before (or without) a good layout returns an
// error instead of dividing by a zero size or reading through no memory.
func (q *Queue) active() bool { return q.Ready && q.mem != nil && q.Size != 0 }

// loadU16 reads a ring field with acquire ordering. Activate checked that
// every ring field lies in RAM; one that does not is an error all the same.
func (q *Queue) loadU16(gpa uint64) (uint16, error) {
	if !q.active() {
		return 0, errNotActive
	}
	v, err := q.mem.LoadU16(gpa)
	if err != nil {
		return 0, fmt.Errorf("ring field: %w", err)
	}
	return v, nil
}

// storeU16 writes a ring field with release ordering.
func (q *Queue) storeU16(gpa uint64, v uint16) error {
	if !q.active() {
		return errNotActive
	}
	if err := q.mem.StoreU16(gpa, v); err != nil {
		return fmt.Errorf("ring field: %w", err)
	}
	return nil
}

// availIdx is the driver's next available slot.
func (q *Queue) availIdx() (uint16, error) { return q.loadU16(q.Avail + 2) }

// HasAvailable reports whether the driver made a chain available that the
// device has not taken yet. A ring it cannot read has nothing (Pop says
// why).
func (q *Queue) HasAvailable() bool {
	if !q.active() {
		return false
	}
	avail, err := q.availIdx()
	return err == nil && avail != q.lastAvail
}

// Pop takes the next available chain into c. It returns false when there
// is none; an error means the driver broke the ring, and the queue must not
// be used until the device is reset.
func (q *Queue) Pop(c *Chain) (bool, error) {
	if !q.active() {
		return false, nil
	}
	avail, err := q.availIdx()
	if err != nil {
		return false, err
	}
	if avail == q.lastAvail {
		return false, nil
	}
	if uint16(avail-q.lastAvail) > q.Size {
		return false, fmt.Errorf("%w: available index jumped from %d to %d on a queue of %d", ErrBadChain, q.lastAvail, avail, q.Size)
	}
	slot := uint64(q.lastAvail % q.Size)
	headB, err := q.mem.Slice(q.Avail+4+2*slot, 2)
	if err != nil {
		return false, fmt.Errorf("available ring: %w", err)
	}
	head := binary.LittleEndian.Uint16(headB)
	q.lastAvail++
	c.Head = head
	c.Buffers = c.Buffers[:0]
	if err := q.walk(c, q.Desc, uint32(q.Size), head, true); err != nil {
		return true, err
	}
	return true, nil
}

// walk follows a chain through the descriptor table at table (n entries),
// expanding one level of indirect table.
func (q *Queue) walk(c *Chain, table uint64, n uint32, idx uint16, top bool) error {
	for steps := uint32(0); ; steps++ {
		if steps >= n {
			return fmt.Errorf("%w: more than %d descriptors (a loop?)", ErrBadChain, n)
		}
		if uint32(idx) >= n {
			return fmt.Errorf("%w: descriptor index %d past a table of %d", ErrBadChain, idx, n)
		}
		d, err := q.mem.Slice(table+16*uint64(idx), 16)
		if err != nil {
			return fmt.Errorf("%w: descriptor table: %w", ErrBadChain, err)
		}
		addr := binary.LittleEndian.Uint64(d[0:])
		length := binary.LittleEndian.Uint32(d[8:])
		flags := binary.LittleEndian.Uint16(d[12:])
		next := binary.LittleEndian.Uint16(d[14:])
		if flags&DescFIndirect != 0 {
			switch {
			case !q.Indirect:
				return fmt.Errorf("%w: indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC", ErrBadChain)
			case !top:
				return fmt.Errorf("%w: nested indirect table", ErrBadChain)
			case flags&DescFNext != 0:
				return fmt.Errorf("%w: indirect descriptor with NEXT", ErrBadChain)
			case length == 0 || length%16 != 0:
				return fmt.Errorf("%w: indirect table of %d bytes", ErrBadChain, length)
			}
			if err := q.walk(c, addr, length/16, 0, false); err != nil {
				return err
			}
			return nil
		}
		buf, err := q.mem.Slice(addr, uint64(length))
		if err != nil {
			return fmt.Errorf("%w: buffer: %w", ErrBadChain, err)
		}
		if len(c.Buffers) >= 4*MaxQueueSize {
			return fmt.Errorf("%w: more than %d buffers", ErrBadChain, 4*MaxQueueSize)
		}
		c.Buffers = append(c.Buffers, Buffer{Data: buf, Writable: flags&DescFWrite != 0})
		if flags&DescFNext == 0 {
			return nil
		}
		idx = next
	}
}

// Push returns chain head to the driver with written bytes written.
func (q *Queue) Push(head uint16, written uint32) error {
	if err := q.AddUsed(head, written); err != nil {
		return err
	}
	return q.PublishUsed()
}

// AddUsed writes a used element without showing it to the driver yet;
// PublishUsed shows every element added so far at once (a packet spread over
// several chains must appear whole).
func (q *Queue) AddUsed(head uint16, written uint32) error {
	if !q.active() {
		return errNotActive
	}
	slot := uint64(q.pendingU % q.Size)
	e, err := q.mem.Slice(q.Used+4+8*slot, 8)
	if err != nil {
		return fmt.Errorf("used ring: %w", err)
	}
	binary.LittleEndian.PutUint32(e[0:], uint32(head))
	binary.LittleEndian.PutUint32(e[4:], written)
	q.pendingU++
	return nil
}

// PublishUsed makes the added used elements visible to the driver.
func (q *Queue) PublishUsed() error {
	if q.pendingU == q.usedIdx {
		return nil
	}
	// Release: the elements are visible before the index that publishes
	// them.
	if err := q.storeU16(q.Used+2, q.pendingU); err != nil {
		return err
	}
	q.usedIdx = q.pendingU
	return nil
}

// Unpop gives back the chain taken last, unused (a receive buffer too
// small for the packet at hand).
func (q *Queue) Unpop() { q.lastAvail-- }

// EnableNotifications asks the driver to kick again for anything after
// what the device has taken, and reports whether more arrived meanwhile
// (then the device must keep going rather than wait).
func (q *Queue) EnableNotifications() (bool, error) {
	return q.EnableNotificationsAt(q.lastAvail)
}

// EnableNotificationsAt asks the driver to kick once it makes available
// the entry at index idx, and reports whether the available index moved
// past idx meanwhile. A device that took no more than it uses asks at its
// next entry (EnableNotifications); one that gave back chains it could
// not use yet (Rollback) asks at the available index it saw, so that only
// more chains wake it: with VIRTIO_RING_F_EVENT_IDX a driver kicks only
// when its new entries cross avail_event (virtio 1.2, 2.7.10), and an
// avail_event behind the chains already there would never be crossed.
func (q *Queue) EnableNotificationsAt(idx uint16) (bool, error) {
	if !q.active() {
		return false, errNotActive
	}
	if q.EventIdx {
		if err := q.storeU16(q.Used+4+8*uint64(q.Size), idx); err != nil {
			return false, err
		}
	}
	avail, err := q.availIdx()
	if err != nil {
		return false, err
	}
	return avail != idx, nil
}

// NextAvail is the index of the next available entry the device takes:
// where a restored queue goes on from (a host kernel serving the queue is
// told it with VHOST_SET_VRING_BASE).
func (q *Queue) NextAvail() uint16 { return q.lastAvail }

// ShouldInterrupt decides, after a batch of Push calls, whether the driver
// wants an interrupt for them (its used_event, or the NO_INTERRUPT flag).
// When it cannot read the driver's wish it interrupts: an interrupt too
// many costs the driver a look at the ring, one too few a hang.
func (q *Queue) ShouldInterrupt() bool {
	old, cur := q.signalledU, q.usedIdx
	if old == cur {
		return false
	}
	q.signalledU = cur
	if q.EventIdx {
		event, err := q.loadU16(q.Avail + 4 + 2*uint64(q.Size))
		return err != nil || uint16(cur-event-1) < uint16(cur-old)
	}
	flags, err := q.loadU16(q.Avail)
	return err != nil || flags&AvailFNoInterrupt == 0
}
