package ninep

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// TestPipeKeepsWrites: writes return before anything is read, the reader
// gets the bytes in order in whatever pieces it asks for, and after a
// close it drains what was written before it sees the error.
func TestPipeKeepsWrites(t *testing.T) {
	p := newPipe(1 << 20)
	for _, s := range []string{"hello ", "9p ", "world"} {
		if n, err := p.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	p.CloseWithError(errStopped)
	var got []byte
	buf := make([]byte, 4)
	for {
		n, err := p.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, errStopped) {
				t.Fatalf("Read error %v", err)
			}
			break
		}
	}
	if string(got) != "hello 9p world" {
		t.Fatalf("read %q", got)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, errStopped) {
		t.Fatalf("Write after close: %v", err)
	}
}

// TestPipeBounded: a writer waits once limit bytes wait to be read, and
// goes on when they are; a close wakes a waiting writer.
func TestPipeBounded(t *testing.T) {
	p := newPipe(8)
	p.Write(make([]byte, 6))
	wrote := make(chan error, 1)
	go func() { _, err := p.Write(make([]byte, 6)); wrote <- err }()
	select {
	case err := <-wrote:
		t.Fatalf("a write past the limit returned at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	io.ReadFull(p, make([]byte, 6))
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	go func() { _, err := p.Write(make([]byte, 6)); wrote <- err }()
	time.Sleep(20 * time.Millisecond)
	p.Close()
	if err := <-wrote; err == nil {
		t.Fatal("a waiting write succeeded after close")
	}
	// A piece larger than the limit goes into an empty pipe.
	q := newPipe(8)
	big := bytes.Repeat([]byte("z"), 20)
	if _, err := q.Write(big); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 20)
	if _, err := io.ReadFull(q, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestPipeAbortDrops: an abort ends the pipe for the reader at once, with
// nothing of what was waiting read.
func TestPipeAbortDrops(t *testing.T) {
	p := newPipe(1 << 20)
	p.Write(make([]byte, 4096))
	p.Abort(errStopped)
	if n, err := p.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errStopped) {
		t.Fatalf("Read after Abort = %d, %v; want 0, %v", n, err, errStopped)
	}
}
