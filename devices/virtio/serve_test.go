package virtio_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestServeQueueAllocatesNothing: once warm, ServeQueue takes, performs
// and returns requests and interrupts without allocating. The count is
// the whole process's, so a goroutine left by an earlier test can add one
// to a round: the test takes the best of several rounds, while an
// allocation on the request path shows in every round, n times over.
func TestServeQueueAllocatesNothing(t *testing.T) {
	d, e := newEchoDriver(t, virtio.Modern, 0)
	echo(t, d, "warm up the chain's buffers", true)
	const n, rounds = 8, 5
	fewest := ^uint64(0)
	for r := range rounds {
		allocs := serveRound(t, d, n)
		t.Logf("round %d: serving %d requests allocated %d times", r, n, allocs)
		fewest = min(fewest, allocs)
		if fewest == 0 {
			break
		}
	}
	if fewest != 0 {
		t.Errorf("serving %d requests allocated at least %d times in each of %d rounds", n, fewest, rounds)
	}
	if served := e.handled.Load(); served%n != 1 {
		t.Errorf("handled %d requests, want 1 + a multiple of %d", served, n)
	}
}

// serveRound makes n requests available, notifies once, waits for all n
// to be used, and returns how many heap allocations the process made
// meanwhile.
func serveRound(t *testing.T, d *virtiotest.Driver, n uint16) uint64 {
	t.Helper()
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
	return m1.Mallocs - m0.Mallocs
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
