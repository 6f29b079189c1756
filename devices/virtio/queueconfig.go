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
