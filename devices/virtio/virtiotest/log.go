package virtiotest

import (
	"strings"
	"sync"
	"testing"
)

// Log is what the transport logged so far (it goes to the test's log
// too).
func (d *Driver) Log() string { return d.log.String() }

// logBuffer keeps a transport's log lines and passes them to the test's
// log.
type logBuffer struct {
	t   testing.TB
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
