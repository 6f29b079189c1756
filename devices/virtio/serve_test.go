package virtio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestServeQueueAllocatesNothing: once warm, ServeQueue takes, performs
// and returns requests and interrupts without allocating.
func TestServeQueueAllocatesNothing(t *testing.T) {
	d, e := newEchoDriver(t, virtio.Modern, 0)
	echo(t, d, "warm up the chain's buffers", true)
	const n = 8
	for range n {
		submitEcho(d, "0123456789abcdef", true)
	}
	notify := []byte{0, 0, 0, 0} // queue 0
	before := d.UsedIdx()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	d.Dev.WriteMMIO(virtio.RegQueueNotify, notify)
	deadline := time.Now().Add(5 * time.Second)
	for d.UsedIdx()-before < n && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	runtime.ReadMemStats(&m1)
	if got := d.UsedIdx() - before; got != n {
		t.Fatalf("served %d of %d requests", got, n)
	}
	if allocs := m1.Mallocs - m0.Mallocs; allocs != 0 {
		t.Errorf("serving %d requests allocated %d times", n, allocs)
	}
	if e.handled.Load() != n+1 {
		t.Errorf("handled %d requests, want %d", e.handled.Load(), n+1)
	}
}

// TestServeQueueStopsMidRequest: a Handler that reports it was stopped
// leaves its chain unused, and ServeQueue returns.
func TestServeQueueStopsMidRequest(t *testing.T) {
	e := &echoDevice{started: make(chan struct{}, 1), hold: make(chan struct{})}
	d := virtiotest.New(t, virtio.Modern, e)
	d.Setup(16, 0)
	submitEcho(d, "never", false)
	d.Kick()
	<-e.started
	if !virtiotest.ReturnsWithin(time.Second, func() { d.Write32(virtio.RegStatus, 0) }) {
		t.Fatal("a reset did not stop a request in progress")
	}
	if d.Pending() != 0 || e.handled.Load() != 0 {
		t.Errorf("a request stopped midway was returned (%d used, %d handled)", d.Pending(), e.handled.Load())
	}
}
