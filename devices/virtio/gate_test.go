package virtio_test

import (
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

func TestGateNilNeverPauses(t *testing.T) {
	var g *virtio.Gate
	g.Pause()
	if !g.Enter(nil) {
		t.Fatal("a nil gate refused Enter")
	}
	g.Leave()
	g.Resume()
}

func TestGatePauseWaitsForInside(t *testing.T) {
	var g virtio.Gate
	stop := make(chan struct{})
	if !g.Enter(stop) {
		t.Fatal("an open gate refused Enter")
	}
	paused := make(chan struct{})
	go func() {
		g.Pause()
		close(paused)
	}()
	select {
	case <-paused:
		t.Fatal("Pause returned while a goroutine was inside")
	case <-time.After(50 * time.Millisecond):
	}
	g.Leave()
	select {
	case <-paused:
	case <-time.After(time.Second):
		t.Fatal("Pause did not return once the gate was empty")
	}
	// Closed: Enter waits until Resume.
	entered := make(chan bool)
	go func() { entered <- g.Enter(stop) }()
	select {
	case <-entered:
		t.Fatal("Enter went through a paused gate")
	case <-time.After(50 * time.Millisecond):
	}
	g.Resume()
	if ok := <-entered; !ok {
		t.Fatal("Enter failed after Resume")
	}
	g.Leave()
	// Pausing twice waits as once; one Resume opens.
	g.Pause()
	g.Pause()
	g.Resume()
	if !virtiotest.ReturnsWithin(time.Second, func() { g.Enter(stop) }) {
		t.Fatal("the gate stayed closed after Resume")
	}
	g.Leave()
}

func TestGateStopWhilePaused(t *testing.T) {
	var g virtio.Gate
	g.Pause()
	stop := make(chan struct{})
	entered := make(chan bool)
	go func() { entered <- g.Enter(stop) }()
	close(stop)
	select {
	case ok := <-entered:
		if ok {
			t.Fatal("Enter succeeded through a paused gate")
		}
	case <-time.After(time.Second):
		t.Fatal("a stop did not end Enter on a paused gate")
	}
	// The stopped goroutine is not inside: Pause does not wait for it.
	if !virtiotest.ReturnsWithin(time.Second, g.Pause) {
		t.Fatal("Pause waits for a goroutine that never entered")
	}
}

// TestGateEnterChecksStop: a stopped device is turned away between
// requests, though the gate is open (a nil one too), so that a stop does
// not wait for every request in the ring.
func TestGateEnterChecksStop(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	var g virtio.Gate
	var nilGate *virtio.Gate
	if g.Enter(stop) || nilGate.Enter(stop) {
		t.Fatal("Enter let a stopped goroutine in")
	}
	g.Pause() // nobody is inside
	g.Resume()
}

// TestGateShut: a shut gate turns goroutines away, those waiting at a
// paused gate too, until Reopen; a Pass left inside by a goroutine that
// panicked is released, so Pause does not wait for it.
func TestGateShut(t *testing.T) {
	var g virtio.Gate
	g.Pause()
	turned := make(chan bool)
	go func() { turned <- !g.Enter(nil) }()
	time.Sleep(10 * time.Millisecond)
	g.Shut()
	select {
	case ok := <-turned:
		if !ok {
			t.Fatal("Enter let a goroutine in a shut gate")
		}
	case <-time.After(time.Second):
		t.Fatal("Shut did not turn away a goroutine waiting at a paused gate")
	}
	g.Resume()
	if g.Enter(nil) {
		t.Fatal("a shut gate let a goroutine in")
	}
	g.Reopen()
	func() {
		p := g.Pass()
		defer p.Release()
		defer func() { recover() }()
		if !p.Enter(nil) {
			t.Fatal("a reopened gate refused Enter")
		}
		panic("a device bug")
	}()
	if !virtiotest.ReturnsWithin(time.Second, g.Pause) {
		t.Fatal("Pause waits for a goroutine that panicked inside")
	}
}
