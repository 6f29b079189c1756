// Package accept keeps a listener's accept loop going through the errors
// that pass: out of descriptors (EMFILE, ENFILE), of memory or buffers
// (ENOMEM, ENOBUFS), a connection aborted before it was taken
// (ECONNABORTED), an interrupted call (EINTR). Ending the loop on one of
// them would leave the socket bound and answering nobody for the rest of
// the VM's life, which anyone who can open connections (a guest's
// forwarded port, a burst of clients) could bring about. As net/http's
// Server does, a failure is waited out, 5 ms doubling to 1 s, and the
// loop accepts again; only a closed listener ends it.
package accept

import (
	"errors"
	"net"
	"time"
)

// The waits after consecutive failures: net/http's Server's.
const (
	firstDelay = 5 * time.Millisecond
	maxDelay   = time.Second
)

// Backoff is the wait before the next accept after a run of failures.
type Backoff struct {
	delay time.Duration // the last wait; 0 after a success
}

// Next is how long to wait after one more failure.
func (b *Backoff) Next() time.Duration {
	if b.delay == 0 {
		b.delay = firstDelay
	} else {
		b.delay = min(2*b.delay, maxDelay)
	}
	return b.delay
}

// Reset starts over after an accept that worked.
func (b *Backoff) Reset() { b.delay = 0 }

// Loop calls accept and hands each connection to handle until accept
// fails with net.ErrClosed or stop is closed. Any other error is waited
// out (Backoff; stop cuts the wait short) and accept is called again:
// every error is taken as one that passes, since one that does not is
// retried once a second at most and the listener's Close still ends the
// loop. logf, when not nil, is told the first error of each run of
// failures, not every retry.
func Loop[C any](accept func() (C, error), stop <-chan struct{}, logf func(format string, args ...any), handle func(C)) {
	var b Backoff
	for {
		c, err := accept()
		if err == nil {
			b.Reset()
			handle(c)
			continue
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		first := b.delay == 0
		d := b.Next()
		if first && logf != nil {
			logf("%v; accepting again in %v, backing off to %v while it fails", err, d, maxDelay)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
	}
}
