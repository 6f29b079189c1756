package control

import (
	"bytes"
	"io"
	"testing"
)

func TestRingKeepsTheLastBytes(t *testing.T) {
	r := ring{buf: make([]byte, 8)}
	var all []byte
	for _, w := range []string{"abc", "defgh", "ij", "", "klmnopqrstuvwxyz", "1", "234"} {
		r.write([]byte(w))
		all = append(all, w...)
		want := all
		if len(want) > 8 {
			want = want[len(want)-8:]
		}
		if got := r.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("after %q: ring %q, want %q", w, got, want)
		}
	}
}

func TestHubReadEndsWhenClosed(t *testing.T) {
	h := NewHub()
	done := make(chan error)
	go func() {
		_, err := h.Read(make([]byte, 1))
		done <- err
	}()
	h.Close()
	if err := <-done; err != io.EOF {
		t.Errorf("Read after Close: %v", err)
	}
}

func TestSlowAttacherLosesOutputNotTheGuest(t *testing.T) {
	a := newAttachment("pid 1")
	a.push(make([]byte, maxPending-1))
	a.push([]byte("xyz"))
	b, dropped := a.take()
	if len(b) != maxPending || dropped != 2 {
		t.Errorf("took %d bytes with %d dropped, want %d and 2", len(b), dropped, maxPending)
	}
}
