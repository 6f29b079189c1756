package net

import "sync"

// heldFrames is what a virtio-net device holds of its backend's frames
// outside the guest's rings, which a saved state must keep: the frame the
// receive goroutine read and has not given the guest yet, and a restored
// device's frame to give it first.
type heldFrames struct {
	mu sync.Mutex
	// held is the receive goroutine's frame (a slice of its buffer, which
	// it does not write while a frame is held), from the backend read to
	// the frame's publication (or drop) inside the gate; nil between.
	held []byte
	// restored is the saved device's held frame, with the header length
	// it was read with, until an activation takes it.
	restored    []byte
	restoredHdr int
}

// hold records the frame the receive goroutine holds (nil: none).
func (n *Net) hold(frame []byte) {
	n.frames.mu.Lock()
	n.frames.held = frame
	n.frames.mu.Unlock()
}

// heldCopy is a copy of the held frame, nil when there is none. The
// device is paused (or not running): the receive goroutine is outside
// the gate, so the frame is either not delivered at all or published and
// no longer held.
func (h *heldFrames) heldCopy() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		return nil
	}
	return append([]byte(nil), h.held...)
}

// setRestored keeps a saved device's held frame for the activation that
// restores it.
func (h *heldFrames) setRestored(frame []byte, hdrLen int) {
	h.mu.Lock()
	h.restored, h.restoredHdr = frame, hdrLen
	h.mu.Unlock()
}

// takeRestored returns the frame a restored device gives the guest first,
// and forgets it. Only the activation that restores the saved device
// gets it (restored): a driver that sets the device up anew may have
// negotiated another header or other offloads than the frame was read
// with, and a frame the guest never saw may be dropped as any network
// drops one. The header length is checked all the same: the frame was
// read for the saved negotiation, which the restored one repeats.
func (h *heldFrames) takeRestored(restored bool, hdrLen int, logOnce func(kind, format string, args ...any)) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, fh := h.restored, h.restoredHdr
	h.restored, h.restoredHdr = nil, 0
	switch {
	case f == nil || !restored:
		return nil
	case fh != hdrLen:
		logOnce("rxrestored", "dropping the frame held when the machine was saved: read with a %d-byte header, the driver now has %d", fh, hdrLen)
		return nil
	}
	return f
}
