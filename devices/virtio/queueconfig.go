package virtio

// queueConfig is one queue as the driver's register writes describe it.
// Only the transport reads and writes it, under its lock: activation builds
// the Queue the device runs with from a copy, so no register write, however
// late or hostile, reaches a queue the device is using.
type queueConfig struct {
	max   uint16
	size  uint16 // QueueNum; 0 until written
	ready bool   // modern QueueReady
	desc  uint64 // modern ring addresses
	avail uint64
	used  uint64

	pfn   uint32 // legacy QueuePFN; 0: not set up
	align uint32 // legacy QueueAlign

	// running: the device was activated with this queue, whose geometry
	// is now fixed until a reset.
	running bool
}

func newQueueConfig(max uint16) queueConfig { return queueConfig{max: max, align: 4096} }

// reset forgets the driver's setup.
func (c *queueConfig) reset() { *c = newQueueConfig(c.max) }

// isReady is what QueueReady reads: set up, in the transport's terms.
func (c *queueConfig) isReady(version TransportVersion) bool {
	if version == Legacy {
		return c.pfn != 0
	}
	return c.ready
}

// queue builds the device's Queue from the registers. A legacy queue is
// laid out from its page frame number: the descriptor table, the available
// ring right after it, the used ring at the next QueueAlign boundary; its
// size defaults to the largest.
func (c *queueConfig) queue(version TransportVersion, pageSize uint32) *Queue {
	q := &Queue{MaxSize: c.max, Size: c.size}
	if version != Legacy {
		q.Ready, q.Desc, q.Avail, q.Used = c.ready, c.desc, c.avail, c.used
		return q
	}
	if c.pfn == 0 {
		return q
	}
	if q.Size == 0 {
		q.Size = c.max
	}
	align := uint64(c.align)
	n := uint64(q.Size)
	q.Ready = true
	q.Desc = uint64(c.pfn) * uint64(pageSize)
	q.Avail = q.Desc + 16*n
	q.Used = (q.Avail + 6 + 2*n + align - 1) &^ (align - 1)
	return q
}

// queueField is one of a queue's configuration registers, whatever its
// offset and name in a register layout.
type queueField int

const (
	fieldSize  queueField = iota // the queue's size
	fieldReady                   // modern: set up
	fieldDescLow
	fieldDescHigh
	fieldDriverLow
	fieldDriverHigh
	fieldDeviceLow
	fieldDeviceHigh
	fieldAlign // legacy
	fieldPFN   // legacy
)

// writeQueue writes field f (the layout's register name) of the selected
// queue, while the driver may; t.mu is held. A write once the queue's
// configuration is fixed is a driver error, and a size that is not a
// power of 2 up to the queue's largest is one too.
func (t *transport) writeQueue(f queueField, name string, v uint32) {
	q := t.selected()
	if q == nil {
		return // no such queue
	}
	if t.queueFixed(q) {
		t.driverError("%s %#x written for queue %d while it runs (status %#x)", name, v, t.queueSel, t.status)
		return
	}
	switch f {
	case fieldSize:
		// A split queue's size is a power of 2 up to its largest
		// (virtio 1.2, 2.7, 4.1.4.3 and 4.2.2.2): any other is a driver
		// error now rather than a failed activation later, so that the
		// registers only ever hold a size a device could run with (0:
		// not written, a legacy queue's largest).
		if v != 0 && (v > uint32(q.max) || v&(v-1) != 0) {
			t.driverError("%s %d written for queue %d, not a power of 2 up to %d", name, v, t.queueSel, q.max)
			return
		}
		q.size = uint16(v)
	case fieldAlign:
		if v != 0 && v&(v-1) == 0 {
			q.align = v
		}
	case fieldPFN:
		q.pfn = v
	case fieldReady:
		q.ready = v == 1
	default:
		if q.ready {
			return // the addresses of a ready queue stay as they are
		}
		switch f {
		case fieldDescLow:
			setLow(&q.desc, v)
		case fieldDescHigh:
			setHigh(&q.desc, v)
		case fieldDriverLow:
			setLow(&q.avail, v)
		case fieldDriverHigh:
			setHigh(&q.avail, v)
		case fieldDeviceLow:
			setLow(&q.used, v)
		case fieldDeviceHigh:
			setHigh(&q.used, v)
		}
	}
}

func setLow(p *uint64, v uint32)  { *p = *p&^0xffffffff | uint64(v) }
func setHigh(p *uint64, v uint32) { *p = *p&0xffffffff | uint64(v)<<32 }
