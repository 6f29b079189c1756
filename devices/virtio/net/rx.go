package net

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
)

// rxLoop receives frames from the backend into the guest's buffers. It
// reads from the backend outside env.Gate: while the device is paused it
// may take a frame, and holds it until resumed.
func (n *Net) rxLoop(env virtio.ActivateEnv) {
	defer n.wg.Done()
	q, kick, gate := env.Queues[netRX], env.Kicks[netRX], env.Gate
	buf := make([]byte, maxFrame+n.hdrLen)
	var chain virtio.Chain
	for {
		size, err := n.io.ReadPacket(buf)
		if err != nil {
			if n.stopped() {
				return
			}
			// A backend error (the tap detached, say) must not spin:
			// try again a little later.
			n.logOnce("rxerr", "reading from the backend: %v", err)
			select {
			case <-n.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if size < n.hdrLen {
			n.Stats.RxDropped.Add(1)
			continue
		}
		if !gate.Enter(n.stop) {
			return
		}
		ok, err := n.deliver(q, kick, gate, &chain, buf[:size])
		if err != nil {
			env.Fail(fmt.Errorf("receive queue: %w", err))
			gate.Leave()
			return
		}
		if !ok {
			return // stopped while waiting for buffers, outside the gate
		}
		if q.ShouldInterrupt() {
			env.Interrupt()
		}
		gate.Leave()
	}
}

// waitBuffers waits until the driver offers receive buffers, outside the
// gate while it waits for a kick. It returns false when the device stops
// first; the caller is then outside the gate.
func (n *Net) waitBuffers(q *virtio.Queue, kick <-chan struct{}, gate *virtio.Gate) bool {
	for !q.EnableNotifications() {
		gate.Leave()
		select {
		case <-n.stop:
			return false
		case <-kick:
		}
		if !gate.Enter(n.stop) {
			return false
		}
	}
	return true
}

// deliver places one frame (with its header) in receive chains: one chain
// without mergeable buffers, as many as it takes with them. The used
// elements appear together, after num_buffers is set. It is called inside
// the gate, and returns false, outside it, when the device stops while it
// waits for buffers.
func (n *Net) deliver(q *virtio.Queue, kick <-chan struct{}, gate *virtio.Gate, c *virtio.Chain, frame []byte) (bool, error) {
	if n.hdrLen == vnetHdrSize {
		binary.LittleEndian.PutUint16(frame[10:], 1) // num_buffers, fixed below
	}
	var first []byte // where the first chain's header went
	chains := uint16(0)
	rest := frame
	for len(rest) > 0 {
		if !q.HasAvailable() && !n.waitBuffers(q, kick, gate) {
			return false, nil
		}
		ok, err := q.Pop(c)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		room := c.WritableLen()
		if !n.mrg && room < len(frame) {
			// Without mergeable buffers a frame must fit one chain.
			q.Unpop()
			n.Stats.RxDropped.Add(1)
			n.logOnce("rxsmall", "dropping a %d-byte frame: receive buffers hold %d", len(frame), room)
			return true, nil
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
		if written == 0 {
			// A chain with no writable room: return it empty.
			q.AddUsed(c.Head, 0)
			continue
		}
		q.AddUsed(c.Head, uint32(written))
		chains++
	}
	if n.mrg && chains > 1 && len(first) >= vnetHdrSize {
		binary.LittleEndian.PutUint16(first[10:], chains)
	}
	q.PublishUsed()
	n.Stats.RxPackets.Add(1)
	n.Stats.RxBytes.Add(uint64(len(frame) - n.hdrLen))
	storeMax(&n.Stats.RxLargest, uint64(len(frame)-n.hdrLen))
	return true, nil
}
