package net

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
)

// rxLoop receives frames from the backend into the guest's buffers. It
// reads from the backend outside env.Gate: while the device is paused it
// may take a frame, and holds it until resumed. A panic is recovered and
// reported as the device's fault.
func (n *Net) rxLoop(env virtio.ActivateEnv, stop <-chan struct{}) {
	defer n.wg.Done()
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover("receive queue")
	q, kick := env.Queues[netRX], env.Kicks[netRX]
	buf := make([]byte, maxFrame+n.hdrLen)
	var chain virtio.Chain
	for {
		size, err := n.io.ReadPacket(buf)
		if err != nil {
			if stopped(stop) {
				return
			}
			// A backend error (the tap detached, say) must not spin:
			// try again a little later.
			n.logOnce("rxerr", "reading from the backend: %v", err)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if size < 0 || size > len(buf) {
			// Not a length the buffer can hold: a backend bug, never
			// a reason to slice past the buffer.
			n.Stats.RxDropped.Add(1)
			n.logOnce("rxlen", "the backend read %d bytes into a %d-byte buffer; dropping the frame", size, len(buf))
			continue
		}
		if size < n.hdrLen {
			n.Stats.RxDropped.Add(1)
			continue
		}
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
		if q.ShouldInterrupt() {
			env.Interrupt()
		}
		pass.Leave()
	}
}

// waitBuffers waits until the driver offers receive buffers, outside the
// gate while it waits for a kick. It returns false when the device stops
// first; the caller is then outside the gate.
func (n *Net) waitBuffers(q *virtio.Queue, kick <-chan struct{}, pass *virtio.Pass, stop <-chan struct{}) (bool, error) {
	for {
		more, err := q.EnableNotifications()
		if err != nil || more {
			return err == nil, err
		}
		pass.Leave()
		select {
		case <-stop:
			return false, nil
		case <-kick:
		}
		if !pass.Enter(stop) {
			return false, nil
		}
	}
}

// deliver places one frame (with its header) in receive chains: one chain
// without mergeable buffers, as many as it takes with them. The used
// elements appear together, after num_buffers is set. It is called inside
// the gate, and returns false, outside it, when the device stops while it
// waits for buffers.
func (n *Net) deliver(q *virtio.Queue, kick <-chan struct{}, pass *virtio.Pass, stop <-chan struct{}, c *virtio.Chain, frame []byte) (bool, error) {
	if n.hdrLen == vnetHdrSize {
		binary.LittleEndian.PutUint16(frame[10:], 1) // num_buffers, fixed below
	}
	var first []byte // where the first chain's header went
	chains := uint16(0)
	rest := frame
	for len(rest) > 0 {
		if !q.HasAvailable() {
			if ok, err := n.waitBuffers(q, kick, pass, stop); !ok {
				return false, err
			}
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
		// A chain with no writable room is returned empty.
		if err := q.AddUsed(c.Head, uint32(written)); err != nil {
			return false, err
		}
		if written > 0 {
			chains++
		}
	}
	if n.mrg && chains > 1 && len(first) >= vnetHdrSize {
		binary.LittleEndian.PutUint16(first[10:], chains)
	}
	if err := q.PublishUsed(); err != nil {
		return false, err
	}
	n.Stats.RxPackets.Add(1)
	n.Stats.RxBytes.Add(uint64(len(frame) - n.hdrLen))
	storeMax(&n.Stats.RxLargest, uint64(len(frame)-n.hdrLen))
	return true, nil
}
