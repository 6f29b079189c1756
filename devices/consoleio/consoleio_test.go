package consoleio

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type sink struct {
	got  []byte
	fail error
}

func (s *sink) Feed(_ context.Context, b []byte) error {
	s.got = append(s.got, b...)
	return s.fail
}

// TestPump: everything read reaches the device in order, and the end of
// the input is not an error; a device's refusal stops the pump with it.
func TestPump(t *testing.T) {
	in := strings.Repeat("host input ", 200)
	var s sink
	if err := Pump(context.Background(), &s, strings.NewReader(in)); err != nil || string(s.got) != in {
		t.Fatalf("Pump = %v, fed %d of %d bytes", err, len(s.got), len(in))
	}
	stop := errors.New("stopped")
	bad := sink{fail: stop}
	if err := Pump(context.Background(), &bad, strings.NewReader(in)); !errors.Is(err, stop) {
		t.Fatalf("Pump into a refusing device = %v", err)
	}
}

// TestFeedWaitsForRoom: a device that takes a few bytes at a time gets
// all of them, in order, each time it signals room; a context that ends
// while it has none stops the feed with its error.
func TestFeedWaitsForRoom(t *testing.T) {
	room := make(chan struct{}, 1)
	var got []byte
	push := func(b []byte) int {
		n := min(len(b), 3)
		got = append(got, b[:n]...)
		room <- struct{}{} // the device made room again at once
		return n
	}
	if err := Feed(context.Background(), []byte("hello, guest"), push, room); err != nil || string(got) != "hello, guest" {
		t.Fatalf("Feed = %v, the device got %q", err, got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	full := func([]byte) int { return 0 }
	if err := Feed(ctx, []byte("x"), full, make(chan struct{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("Feed into a full device after cancel = %v", err)
	}
}
