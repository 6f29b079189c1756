package control

import (
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// failingListener fails its first fail accepts with EMFILE, as a process
// out of descriptors does, noting when.
type failingListener struct {
	unixListener
	mu    sync.Mutex
	fail  int
	fails []time.Time
}

func (l *failingListener) AcceptUnix() (*net.UnixConn, error) {
	l.mu.Lock()
	if len(l.fails) < l.fail {
		l.fails = append(l.fails, time.Now())
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	return l.unixListener.AcceptUnix()
}

// TestAcceptOutlivesEMFILEBackingOff: accepts that fail (out of
// descriptors) are tried again, waiting 5 ms and then twice as long each
// time rather than spinning, and clients are served once accepting works
// again.
func TestAcceptOutlivesEMFILEBackingOff(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Info{Name: "emfile"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := &failingListener{unixListener: s.ln, fail: 6}
	s.ln = ln
	var logged syncBuffer
	s.SetLogger(log.New(&logged, "", 0))
	s.SetVM(&testVM{})
	s.Serve()
	defer s.Finish(0, "powered off")
	if _, err := dial(t, "emfile").Info(); err != nil {
		t.Fatalf("after accepts failed: %v", err)
	}
	// Said once, not at each retry.
	if got := logged.String(); strings.Count(got, "too many open files") != 1 {
		t.Errorf("log %q, want the failure once", got)
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if len(ln.fails) != 6 {
		t.Fatalf("%d failed accepts, want 6", len(ln.fails))
	}
	// Sleeps are never shorter than asked: the waits' lower bounds hold
	// on a loaded machine too.
	for i := 1; i < len(ln.fails); i++ {
		want := 5 * time.Millisecond << (i - 1)
		if gap := ln.fails[i].Sub(ln.fails[i-1]); gap < want {
			t.Errorf("failure %d came %v after the one before, want a back-off of %v", i+1, gap, want)
		}
	}
}

// TestFinishEndsAnAcceptLoopThatIsBackingOff: a server whose accepts keep
// failing still ends at once.
func TestFinishEndsAnAcceptLoopThatIsBackingOff(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Info{Name: "emfile2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ln = &failingListener{unixListener: s.ln, fail: 1 << 30}
	s.SetLogger(log.New(io.Discard, "", 0))
	s.Serve()
	time.Sleep(400 * time.Millisecond) // into a wait of 320 ms or more
	start := time.Now()
	s.Finish(0, "powered off")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Finish took %v with the accept loop backing off", d)
	}
}
