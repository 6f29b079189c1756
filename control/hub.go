package control

import (
	"io"
	"sync"
	"time"
)

// RingSize is how much of the guest's console a Hub keeps for the next
// attacher to see what was printed before it came.
const RingSize = 64 << 10

// maxPending bounds what waits to be sent to an attacher that reads
// slower than the guest prints; the rest is dropped, never waited for.
const maxPending = 256 << 10

// Hub is a detached VM's console: the guest writes into it (Write, never
// blocking), it keeps the last RingSize bytes, and passes output to the
// attached client, if any; what that client types is the guest's input
// (Read).
type Hub struct {
	mu   sync.Mutex
	ring ring
	att  *attachment

	in     chan []byte   // input chunks from the attacher
	rest   []byte        // part of a chunk Read has not returned yet
	closed chan struct{} // Close: Read returns io.EOF
	once   sync.Once
}

// NewHub makes an empty console hub.
func NewHub() *Hub {
	return &Hub{ring: ring{buf: make([]byte, RingSize)}, in: make(chan []byte), closed: make(chan struct{})}
}

// Write takes guest output: into the ring and to the attacher. It never
// blocks on a client.
func (h *Hub) Write(p []byte) (int, error) {
	h.mu.Lock()
	h.ring.write(p)
	if a := h.att; a != nil {
		a.push(p)
	}
	h.mu.Unlock()
	return len(p), nil
}

// Read gives the guest what the attacher typed; it blocks while there is
// none and returns io.EOF once the hub is closed.
func (h *Hub) Read(p []byte) (int, error) {
	if len(h.rest) == 0 {
		select {
		case b := <-h.in:
			h.rest = b
		case <-h.closed:
			return 0, io.EOF
		}
	}
	n := copy(p, h.rest)
	h.rest = h.rest[n:]
	return n, nil
}

// Close ends input: a Read returns io.EOF.
func (h *Hub) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Snapshot is what the ring holds: the guest's last RingSize bytes.
func (h *Hub) Snapshot() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ring.bytes()
}

// attach makes a the attacher, with the ring's contents as its first
// output; it fails with the current attacher's client name if there is one.
func (h *Hub) attach(a *attachment) (busy string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.att != nil {
		return h.att.client
	}
	h.att = a
	a.push(h.ring.bytes())
	return ""
}

func (h *Hub) detach(a *attachment) {
	h.mu.Lock()
	if h.att == a {
		h.att = nil
	}
	h.mu.Unlock()
}

// attacher names the attached client, or "".
func (h *Hub) attacher() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.att == nil {
		return ""
	}
	return h.att.client
}

// input passes a chunk the attacher typed to the guest, waiting while the
// guest has not taken the last one, until done is closed or left (asked
// every hangupPoll) says the attacher has gone: a guest that stops
// reading must not keep a client that left attached, and the console in
// use, for good. False when the chunk did not go in.
func (h *Hub) input(b []byte, done <-chan struct{}, left func() bool) bool {
	select {
	case h.in <- b:
		return true
	default:
	}
	t := time.NewTicker(hangupPoll)
	defer t.Stop()
	for {
		select {
		case h.in <- b:
			return true
		case <-done:
			return false
		case <-h.closed:
			return false
		case <-t.C:
			if left() {
				return false
			}
		}
	}
}

// attachment is one attached client's output queue, drained by its own
// goroutine so the guest never waits for the client.
type attachment struct {
	client  string
	mu      sync.Mutex
	pending []byte
	dropped int
	ready   chan struct{} // something is pending
}

func newAttachment(client string) *attachment {
	return &attachment{client: client, ready: make(chan struct{}, 1)}
}

func (a *attachment) push(p []byte) {
	if len(p) == 0 {
		return
	}
	a.mu.Lock()
	room := maxPending - len(a.pending)
	n := min(room, len(p))
	a.pending = append(a.pending, p[:n]...)
	a.dropped += len(p) - n
	a.mu.Unlock()
	select {
	case a.ready <- struct{}{}:
	default:
	}
}

// take returns what is pending and how much was dropped since the last
// take.
func (a *attachment) take() ([]byte, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, d := a.pending, a.dropped
	a.pending, a.dropped = nil, 0
	return b, d
}

// ring keeps the last len(buf) bytes written.
type ring struct {
	buf  []byte
	next int  // where the next byte goes
	full bool // buf has wrapped
}

func (r *ring) write(p []byte) {
	if len(p) >= len(r.buf) {
		copy(r.buf, p[len(p)-len(r.buf):])
		r.next, r.full = 0, true
		return
	}
	n := copy(r.buf[r.next:], p)
	if n < len(p) {
		copy(r.buf, p[n:])
		r.full = true
	}
	r.next = (r.next + len(p)) % len(r.buf)
	if r.next == 0 && len(p) > 0 {
		r.full = true
	}
}

func (r *ring) bytes() []byte {
	if !r.full {
		return append([]byte(nil), r.buf[:r.next]...)
	}
	return append(append([]byte(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
