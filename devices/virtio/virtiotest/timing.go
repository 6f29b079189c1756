package virtiotest

import (
	"sync"
	"testing"
	"time"
)

// ReturnsWithin reports whether f returns within d, leaving it running
// when not: for tests that a Pause, Reset or Close does not hang.
func ReturnsWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Concurrently runs every fn on a goroutine of its own at once and fails
// the test if they have not all returned within limit: for hammering
// Reset and Close from several "vcpus".
func Concurrently(t testing.TB, limit time.Duration, fns ...func()) {
	t.Helper()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	if !ReturnsWithin(limit, wg.Wait) {
		t.Fatal("concurrent calls hang")
	}
}
