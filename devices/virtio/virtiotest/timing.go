package virtiotest

import "time"

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
