package virtio

import "fmt"

// RingState is where a device is in one queue's rings, as its Queue keeps
// it: what a restored device needs to go on from there, taking no
// available entry twice and skipping none, and deciding its next
// interrupt as it would have. Its JSON is part of a transport's saved
// State.
type RingState struct {
	// NextAvail is the index of the next available entry the device
	// takes.
	NextAvail uint16
	// UsedIdx is the used index the driver sees; UsedAdded is the used
	// index with the elements written but not yet published (a packet
	// spread over several chains, half returned).
	UsedIdx, UsedAdded uint16
	// UsedSignalled is the used index at the device's last interrupt
	// decision (ShouldInterrupt), from which EVENT_IDX and NO_INTERRUPT
	// decide the next.
	UsedSignalled uint16
}

// ringState is where the device is in q; only while its goroutines are
// held (or stopped).
func (q *Queue) ringState() RingState {
	return RingState{NextAvail: q.lastAvail, UsedIdx: q.usedIdx, UsedAdded: q.pendingU, UsedSignalled: q.signalledU}
}

// setRingState puts the device back where r says, after Activate (which
// starts a queue at the beginning of its rings) and before the device
// runs. r passed checkRingState for q's size.
func (q *Queue) setRingState(r RingState) {
	q.lastAvail, q.usedIdx, q.pendingU, q.signalledU = r.NextAvail, r.UsedIdx, r.UsedAdded, r.UsedSignalled
}

// checkRingState checks that r is a place a device can be at in a queue of
// size entries: it published no element it had not added, and added none
// for a chain it had not taken, and it holds no more chains taken and not
// returned than the ring has entries. The indices wrap at 2^16, as the
// rings' do. UsedSignalled may be anywhere: the device serves any number
// of chains between two interrupt decisions.
func checkRingState(r RingState, size uint16) error {
	taken := r.NextAvail - r.UsedIdx // taken and not yet published
	added := r.UsedAdded - r.UsedIdx // added and not yet published
	if taken > size || added > taken {
		return fmt.Errorf("ring position %+v: not one a device reaches on a queue of %d", r, size)
	}
	return nil
}
