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
