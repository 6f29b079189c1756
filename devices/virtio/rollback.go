package virtio

import "fmt"

// Mark is a place in a queue's rings that the device can go back to
// (Rollback), as long as it published nothing since.
type Mark struct {
	lastAvail, pendingU uint16
}

// Mark is where the device is in q's rings now.
func (q *Queue) Mark() Mark { return Mark{lastAvail: q.lastAvail, pendingU: q.pendingU} }

// Rollback puts the device back at m: the chains it took since are
// available again, to be taken again in the same order, and the used
// elements it added since are forgotten. The driver never saw either (a
// used element is the driver's only once published), so to it nothing
// happened. A device that ran out of chains in the middle of a packet
// spread over several (virtio-net's mergeable receive buffers) rolls back
// rather than waiting with a half packet taken: a machine saved while it
// waits then holds no half packet in its rings.
//
// It fails, changing nothing, when an element added since m was
// published, or m is not a place the device passed on the way to where
// it is.
func (q *Queue) Rollback(m Mark) error {
	added := q.pendingU - q.usedIdx // added, not yet published
	switch {
	case uint16(m.pendingU-q.usedIdx) > added:
		return fmt.Errorf("rolling the queue back to %+v: used elements after it were published (used index %d)", m, q.usedIdx)
	case uint16(q.lastAvail-m.lastAvail) > q.Size:
		return fmt.Errorf("rolling the queue back to %+v: not a place before the next available entry %d", m, q.lastAvail)
	}
	q.lastAvail, q.pendingU = m.lastAvail, m.pendingU
	return nil
}
