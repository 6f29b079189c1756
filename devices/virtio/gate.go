package virtio

import "sync"

// Gate is how a transport pauses its device. The device's goroutines
// touch guest memory and raise interrupts only between Enter and Leave,
// one request at a time; Pause closes the gate and waits until none is
// inside, Resume opens it again. Its zero value is open, and a nil *Gate
// never closes.
//
// A goroutine waits outside the gate for anything that is not guest
// memory (a kick, a backend read), so that Pause never waits for the
// guest or the network.
type Gate struct {
	mu     sync.Mutex
	busy   int           // goroutines between Enter and Leave
	resume chan struct{} // non-nil while paused; Resume closes it
	idle   chan struct{} // non-nil while Pause waits for busy to be 0
}

// Enter waits until the gate is open and lets the caller in. It returns
// false, leaving the caller outside, when stop is closed while it waits:
// a device stopped while paused stops at once.
func (g *Gate) Enter(stop <-chan struct{}) bool {
	if g == nil {
		return true
	}
	for {
		g.mu.Lock()
		resume := g.resume
		if resume == nil {
			g.busy++
			g.mu.Unlock()
			return true
		}
		g.mu.Unlock()
		select {
		case <-resume:
		case <-stop:
			return false
		}
	}
}

// Leave lets the caller out of the gate.
func (g *Gate) Leave() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.busy--
	if g.busy == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Pause closes the gate and returns once no goroutine is inside it.
// Pausing a paused gate only waits.
func (g *Gate) Pause() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.resume == nil {
		g.resume = make(chan struct{})
	}
	var idle chan struct{}
	if g.busy > 0 {
		if g.idle == nil {
			g.idle = make(chan struct{})
		}
		idle = g.idle
	}
	g.mu.Unlock()
	if idle != nil {
		<-idle
	}
}

// Resume opens the gate and lets the goroutines waiting at it in.
func (g *Gate) Resume() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.resume != nil {
		close(g.resume)
		g.resume = nil
	}
	g.mu.Unlock()
}
