package net

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
)

// rxLoop receives frames from the backend into the guest's buffers,
// starting with first (a restored device's held frame) when there is
// one. It reads from the backend outside env.Gate: while the device is
// paused it may take a frame, and holds it until resumed; the frame it
// holds, not yet in the guest's buffers, is the device's saved state
// (held). A panic is recovered and reported as the device's fault.
func (n *Net) rxLoop(env virtio.ActivateEnv, stop <-chan struct{}, first []byte) {
	defer n.wg.Done()
	// A frame still held when the loop ends (the device stopped or
	// broke) is dropped with it: a saved device has none.
	defer n.hold(nil)
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover("receive queue")
	q, kick := env.Queues[netRX], env.Kicks[netRX]
	buf := make([]byte, maxFrame+n.hdrLen)
	size := copy(buf, first)
	have := first != nil
	var chain virtio.Chain
	for {
		if !have {
			var ok bool
			if size, ok = n.read(buf, stop); !ok {
				return
			}
			if size < 0 {
				continue // dropped
			}
		}
		have = false
		n.hold(buf[:size])
		if !pass.Enter(stop) {
			return
		}
		ok, err := n.deliver(q, kick, &pass, stop, &chain, buf[:size])
		if err != nil {
			env.Fail(fmt.Errorf("receive queue: %w", err))
			pass.Leave()
			return
		}
		if !ok {
			return // stopped while waiting for buffers, outside the gate
		}
		// Delivered (or dropped), inside the gate: a save finds it in
		// the rings or nowhere, never held as well.
		n.hold(nil)
		if q.ShouldInterrupt() {
			env.Interrupt(netRX)
		}
		pass.Leave()
	}
}

// read reads one frame from the backend into buf. It returns false when
// the device stops, and a size of -1 for a frame it dropped.
func (n *Net) read(buf []byte, stop <-chan struct{}) (int, bool) {
	size, err := n.io.ReadPacket(buf)
	if err != nil {
		if stopped(stop) {
			return 0, false
		}
		// A backend error (the tap detached, say) must not spin: try
		// again a little later.
		n.logOnce("rxerr", "reading from the backend: %v", err)
		select {
		case <-stop:
			return 0, false
		case <-time.After(100 * time.Millisecond):
		}
		return -1, true
	}
	if size < 0 || size > len(buf) {
		// Not a length the buffer can hold: a backend bug, never a
		// reason to slice past the buffer.
		n.Stats.RxDropped.Add(1)
		n.logOnce("rxlen", "the backend read %d bytes into a %d-byte buffer; dropping the frame", size, len(buf))
		return -1, true
	}
	if size < n.hdrLen {
		n.Stats.RxDropped.Add(1)
		return -1, true
	}
	return size, true
}

// waitBuffers waits until the driver makes available an entry past seen
// (the available index the device saw when it ran out), outside the gate
// while it waits for a kick. It returns false when the device stops
// first; the caller is then outside the gate.
func (n *Net) waitBuffers(q *virtio.Queue, kick *virtio.Kick, pass *virtio.Pass, stop <-chan struct{}, seen uint16) (bool, error) {
	for {
		more, err := q.EnableNotificationsAt(seen)
		if err != nil || more {
			return err == nil, err
		}
		pass.Leave()
		if !kick.Wait(stop) {
			return false, nil
		}
		if !pass.Enter(stop) {
			return false, nil
		}
	}
}

// deliver places one frame (with its header) in receive chains, inside
// the gate (place). When the driver has not made enough chains available,
// place gives back those it took for the frame, and deliver waits outside
// the gate for more, then places the whole frame again: outside the gate
// the rings never hold part of a frame, so a machine saved meanwhile has
// none of it in its rings and all of it held (the device's saved state).
// deliver returns false, outside the gate, when the device stops while it
// waits for buffers.
func (n *Net) deliver(q *virtio.Queue, kick *virtio.Kick, pass *virtio.Pass, stop <-chan struct{}, c *virtio.Chain, frame []byte) (bool, error) {
	for {
		done, seen, err := n.place(q, c, frame)
		if err != nil || done {
			return err == nil, err
		}
		if ok, err := n.waitBuffers(q, kick, pass, stop, seen); !ok {
			return false, err
		}
	}
}

// place puts one frame in receive chains: one chain without mergeable
// buffers, as many as it takes with them, whose used elements appear
// together, after num_buffers is set. It reports done once the frame is
// published or dropped. When the chains run out first it rolls back
// those it took for this frame (the driver saw none of them) and returns
// the available index it saw, to wait for more.
func (n *Net) place(q *virtio.Queue, c *virtio.Chain, frame []byte) (done bool, seen uint16, err error) {
	if n.hdrLen == vnetHdrSize {
		binary.LittleEndian.PutUint16(frame[10:], 1) // num_buffers, fixed below
	}
	start := q.Mark()
	var first []byte // where the first chain's header went
	chains := uint16(0)
	taken := 0
	rest := frame
	for len(rest) > 0 {
		ok, err := q.Pop(c)
		if err != nil {
			return false, 0, err
		}
		if !ok {
			seen := q.NextAvail()
			if err := q.Rollback(start); err != nil {
				return false, 0, err
			}
			if taken >= int(q.Size) {
				// The whole ring is this frame's and does not hold
				// it: no number of kicks would make it fit.
				n.Stats.RxDropped.Add(1)
				n.logOnce("rxring", "dropping a %d-byte frame: the whole receive ring does not hold it", len(frame))
				return true, 0, nil
			}
			return false, seen, nil
		}
		taken++
		room := c.WritableLen()
		if !n.mrg && room < len(frame) {
			// Without mergeable buffers a frame must fit one chain.
			q.Unpop()
			n.Stats.RxDropped.Add(1)
			n.logOnce("rxsmall", "dropping a %d-byte frame: receive buffers hold %d", len(frame), room)
			return true, 0, nil
		}
		written := 0
		for _, b := range c.Buffers {
			if !b.Writable || len(rest) == 0 {
				continue
			}
			m := copy(b.Data, rest)
			if first == nil && written == 0 {
				first = b.Data
			}
			rest = rest[m:]
			written += m
		}
		// A chain with no writable room is returned empty.
		if err := q.AddUsed(c.Head, uint32(written)); err != nil {
			return false, 0, err
		}
		if written > 0 {
			chains++
		}
	}
	if n.mrg && chains > 1 && len(first) >= vnetHdrSize {
		binary.LittleEndian.PutUint16(first[10:], chains)
	}
	if err := q.PublishUsed(); err != nil {
		return false, 0, err
	}
	n.Stats.RxPackets.Add(1)
	n.Stats.RxBytes.Add(uint64(len(frame) - n.hdrLen))
	storeMax(&n.Stats.RxLargest, uint64(len(frame)-n.hdrLen))
	return true, 0, nil
}
