package accept

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestBackoffDoublesFrom5msTo1s(t *testing.T) {
	var b Backoff
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		if d := b.Next(); d != w*time.Millisecond {
			t.Fatalf("failure %d: wait %v, want %v", i+1, d, w*time.Millisecond)
		}
	}
	b.Reset()
	if d := b.Next(); d != firstDelay {
		t.Errorf("after a success: wait %v, want %v", d, firstDelay)
	}
}

// acceptErr is how net's listeners report a failed accept4.
func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestLoopOutlivesTemporaryErrors: each error that passes is waited out
// and the connections after it are handled; a closed listener ends the
// loop, once, and is not logged.
func TestLoopOutlivesTemporaryErrors(t *testing.T) {
	script := []error{
		acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE), nil,
		acceptErr(syscall.ECONNABORTED), acceptErr(syscall.EINTR), acceptErr(syscall.ENOBUFS), acceptErr(syscall.ENOMEM), nil,
		net.ErrClosed,
	}
	calls, handled := 0, 0
	var logged []string
	accept := func() (int, error) {
		err := script[calls]
		calls++
		return calls, err
	}
	Loop(accept, nil, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }, func(int) { handled++ })
	if calls != len(script) || handled != 2 {
		t.Errorf("%d accepts, %d handled; want %d and 2", calls, handled, len(script))
	}
	// The first failure of each run is told, not the retries.
	if len(logged) != 2 {
		t.Errorf("logged %q, want the first error of each of two runs", logged)
	}
}

// TestStopCutsTheWaitShort: a loop waiting out a failure ends at once
// when stop closes.
func TestStopCutsTheWaitShort(t *testing.T) {
	stop := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(func() (int, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			return 0, errors.New("no")
		}, stop, nil, func(int) {})
	}()
	time.Sleep(400 * time.Millisecond) // into a wait of 320 ms or more
	start := time.Now()
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not end when stop closed")
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("the loop took %v to end after stop", d)
	}
	mu.Lock()
	defer mu.Unlock()
	// 5+10+20+40+80+160 ms: at most 7 accepts in 400 ms, not 40.
	if calls > 8 {
		t.Errorf("%d accepts in 400 ms of failures: no back-off", calls)
	}
}
