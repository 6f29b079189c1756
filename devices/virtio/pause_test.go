package virtio_test

import (
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// quiet checks that for a while the device neither uses a chain nor
// interrupts.
func quiet(t *testing.T, d *virtiotest.Driver, what string) {
	t.Helper()
	before := d.UsedIdx()
	select {
	case <-d.IRQs:
		t.Errorf("%s: an interrupt", what)
	case <-time.After(50 * time.Millisecond):
	}
	if d.UsedIdx() != before {
		t.Errorf("%s: the used index moved from %d to %d", what, before, d.UsedIdx())
	}
}

func drainIRQs(d *virtiotest.Driver) {
	for {
		select {
		case <-d.IRQs:
		default:
			return
		}
	}
}

// TestPauseHoldsRequests: a request kicked while the device is paused is
// not served until Resume; then it completes. (Without EVENT_IDX every
// batch interrupts.)
func TestPauseHoldsRequests(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		d, e := newEchoDriver(t, v, 1<<virtio.FeatureEventIdx)
		echo(t, d, "before", false)
		drainIRQs(d)
		d.Pause()
		out := submitEcho(d, "while paused", false)
		d.Kick()
		quiet(t, d, "paused")
		if e.handled.Load() != 1 {
			t.Errorf("a paused device performed a request")
		}
		d.Resume()
		checkEcho(t, d, out, "while paused")
		select {
		case <-d.IRQs:
		case <-time.After(time.Second):
			t.Errorf("no interrupt after Resume")
		}
	}
}

// TestPauseWaitsForRequestInFlight: Pause returns only once the request
// being performed is done, and holds the next.
func TestPauseWaitsForRequestInFlight(t *testing.T) {
	e := &echoDevice{started: make(chan struct{}, 4), hold: make(chan struct{})}
	d := virtiotest.New(t, virtio.Modern, e)
	d.Setup(16, 0)
	first := submitEcho(d, "in flight", false)
	d.Kick()
	<-e.started
	paused := make(chan struct{})
	go func() {
		d.Pause()
		close(paused)
	}()
	select {
	case <-paused:
		t.Fatal("Pause returned while a request was being performed")
	case <-time.After(50 * time.Millisecond):
	}
	second := submitEcho(d, "held", false)
	d.Kick()
	close(e.hold)
	select {
	case <-paused:
	case <-time.After(time.Second):
		t.Fatal("Pause did not return once the request was done")
	}
	checkEcho(t, d, first, "in flight")
	drainIRQs(d)
	quiet(t, d, "paused after a request in flight")
	d.Resume()
	checkEcho(t, d, second, "held")
}

// TestPauseBeforeActivation: a device activated while paused waits for
// Resume before its first request.
func TestPauseBeforeActivation(t *testing.T) {
	e := &echoDevice{}
	d := virtiotest.New(t, virtio.Modern, e)
	d.Pause()
	d.Setup(16, 0)
	out := submitEcho(d, "first", false)
	d.Kick()
	quiet(t, d, "paused before activation")
	d.Resume()
	checkEcho(t, d, out, "first")
}

// TestStopWhilePaused: a reset or Close of a paused device with a kicked
// request returns promptly, and a reset device works once resumed.
func TestStopWhilePaused(t *testing.T) {
	d, e := newEchoDriver(t, virtio.Modern, 0)
	d.Pause()
	submitEcho(d, "dropped", false)
	d.Kick()
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Write32(virtio.RegStatus, 0) }) {
		t.Fatal("a reset of a paused device does not return")
	}
	d.Setup(16, 0)
	d.Resume()
	echo(t, d, "after reset", false)

	d.Pause()
	submitEcho(d, "dropped", false)
	d.Kick()
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Close() }) {
		t.Fatal("Close of a paused device does not return")
	}
	if e.handled.Load() != 1 {
		t.Errorf("handled %d requests, want 1", e.handled.Load())
	}
}
