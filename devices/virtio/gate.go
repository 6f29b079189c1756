package virtio

import "sync"

// Gate is how a transport pauses its device, and stops it serving once it
// is broken. The device's goroutines touch guest memory and raise
// interrupts only between Enter and Leave, one request at a time; Pause
// closes the gate and waits until none is inside, Resume opens it again.
// Shut turns every goroutine away until Reopen (a device the driver or a
// bug broke serves nothing more until it is reset). Its zero value is
// open, and a nil *Gate never closes.
//
// A goroutine waits outside the gate for anything that is not guest
// memory (a kick, a backend read), so that Pause never waits for the
// guest or the network.
type Gate struct {
	mu     sync.Mutex
	busy   int           // goroutines between Enter and Leave
	resume chan struct{} // non-nil while paused; Resume closes it
	idle   chan struct{} // non-nil while Pause waits for busy to be 0
	shut   bool          // Shut and no Reopen since
	shutC  chan struct{} // closed by Shut, for goroutines waiting on resume
}

// Enter waits until the gate is open and lets the caller in. It returns
// false, leaving the caller outside, when stop is closed, before or while
// it waits (so a device checks for a stop between requests, and one
// stopped while paused stops at once), or when the gate is shut.
func (g *Gate) Enter(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	if g == nil {
		return true
	}
	for {
		g.mu.Lock()
		if g.shut {
			g.mu.Unlock()
			return false
		}
		resume := g.resume
		if resume == nil {
			g.busy++
			g.mu.Unlock()
			return true
		}
		shut := g.shutChanLocked()
		g.mu.Unlock()
		select {
		case <-resume:
		case <-stop:
			return false
		case <-shut:
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

// holding reports whether the gate is paused with no goroutine inside:
// what a saved state needs of a running device (state.go).
func (g *Gate) holding() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resume != nil && g.busy == 0
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

// Shut turns away every later Enter, and the goroutines waiting at a
// paused gate, until Reopen. Goroutines inside finish their request.
func (g *Gate) Shut() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if !g.shut {
		g.shut = true
		if g.shutC != nil {
			close(g.shutC)
			g.shutC = nil
		}
	}
	g.mu.Unlock()
}

// WaitShut waits until the gate is shut (true) or stop is closed
// (false), for a device whose work is done outside gokvm and which must
// stop it once the transport breaks the device. A nil Gate never shuts.
func (g *Gate) WaitShut(stop <-chan struct{}) bool {
	if g == nil {
		<-stop
		return false
	}
	g.mu.Lock()
	if g.shut {
		g.mu.Unlock()
		return true
	}
	shut := g.shutChanLocked()
	g.mu.Unlock()
	select {
	case <-shut:
		return true
	case <-stop:
		return false
	}
}

// shutChanLocked is the channel Shut closes; g.mu is held.
func (g *Gate) shutChanLocked() chan struct{} {
	if g.shutC == nil {
		g.shutC = make(chan struct{})
	}
	return g.shutC
}

// Reopen undoes Shut; a paused gate stays paused.
func (g *Gate) Reopen() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.shut = false
	g.mu.Unlock()
}

// Pass is one goroutine's way through a Gate: it remembers whether the
// goroutine is inside, so that a goroutine that ends in a panic leaves on
// its way out (Release) rather than holding every later Pause forever.
// Its methods are the Gate's.
type Pass struct {
	g      *Gate
	inside bool
}

// Pass makes a goroutine's pass through g (a nil g never closes).
func (g *Gate) Pass() Pass { return Pass{g: g} }

// Enter is Gate.Enter.
func (p *Pass) Enter(stop <-chan struct{}) bool {
	p.inside = p.g.Enter(stop)
	return p.inside
}

// Leave is Gate.Leave; leaving when outside does nothing.
func (p *Pass) Leave() {
	if p.inside {
		p.inside = false
		p.g.Leave()
	}
}

// Release leaves the gate if the goroutine is inside. A device's goroutine
// defers it before its Recover, so that it runs after it.
func (p *Pass) Release() { p.Leave() }
