package ninep

import (
	"fmt"
	"time"
)

// The device passes requests to the server and returns each chain when
// its answer comes, on the server's goroutine, so the transport's gate
// alone would pause it with chains taken from the ring and not returned:
// a saved state would lose them (the restored server never heard of
// them) or, given back to the ring, do them twice. So the device is a
// virtio.Drainer: before the transport closes its gate, Drain stops the
// queue's goroutine taking chains and waits until every chain taken has
// been answered and returned, with the gate still open for the answers.
// The machine's vcpus are parked by then, so nothing new comes.
//
// A request may not end: a read of a file on a listed mount whose server
// went away, say. Drain waits DrainWait at most, then lets the pause go
// on with the request in progress (a pause must not hang on a guest's
// request), and a save of the device is refused, naming the share, until
// a later pause finds it drained.

// DrainWait is how long a pause waits for a share's requests in progress.
const DrainWait = 2 * time.Second

// Drain implements virtio.Drainer.
func (d *Device) Drain() {
	d.run.Lock()
	d.held = true
	s := d.sess
	if s != nil {
		s.mu.Lock()
		s.hold = true
		s.wake()
		s.mu.Unlock()
	}
	d.run.Unlock()
	if s == nil {
		return
	}
	if !s.drain(d.drainWait) {
		n, replaying := s.busy()
		what := requests(n) + " still in progress"
		if replaying {
			what = "the saved fids still being reopened"
		}
		d.logf("%s after %v; the machine pauses with them, and cannot be saved until they end", what, d.drainWait)
	}
}

// Undrain implements virtio.Drainer.
func (d *Device) Undrain() {
	d.run.Lock()
	defer d.run.Unlock()
	d.held = false
	if s := d.sess; s != nil {
		s.mu.Lock()
		s.hold = false
		s.wake()
		s.mu.Unlock()
	}
}

// drain waits, up to wait, until the session has no chain taken and not
// returned and has reopened its saved fids; false when it still has.
// A session that stops is drained: it will return nothing more.
func (s *session) drain(wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.taken == 0 && !s.replaying {
			s.mu.Unlock()
			return true
		}
		changed := s.changedC()
		s.mu.Unlock()
		select {
		case <-changed:
		case <-s.stop:
			return true
		case <-timer.C:
			return false
		}
	}
}

// busy is what keeps the session from being saved: the chains taken and
// not returned, and whether the saved fids are still being reopened.
func (s *session) busy() (taken int, replaying bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken, s.replaying
}

// requests says how many requests there are.
func requests(n int) string {
	if n == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", n)
}
