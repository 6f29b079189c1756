package console

import (
	"context"
	"sync"
)

// inputSize bounds the input held for the guest: the host's input waits
// (it is not read further) while this much is pending.
const inputSize = 4096

// input is the host's input on its way to the guest: a bounded buffer the
// pump fills and the receive loop drains, across device resets.
type input struct {
	mu    sync.Mutex
	buf   []byte
	ready chan struct{} // signalled when bytes arrive
	room  chan struct{} // signalled when bytes leave
}

func newInput() *input {
	return &input{
		buf:   make([]byte, 0, inputSize),
		ready: make(chan struct{}, 1),
		room:  make(chan struct{}, 1),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// empty reports whether nothing is pending.
func (in *input) empty() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.buf) == 0
}

// take moves pending bytes into dst and returns how many.
func (in *input) take(dst []byte) int {
	in.mu.Lock()
	n := copy(dst, in.buf)
	in.buf = append(in.buf[:0], in.buf[n:]...)
	in.mu.Unlock()
	if n > 0 {
		signal(in.room)
	}
	return n
}

// feed queues b, waiting while the buffer is full; it returns ctx's error
// when ctx ends first.
func (in *input) Feed(ctx context.Context, b []byte) error {
	for len(b) > 0 {
		in.mu.Lock()
		n := min(len(b), inputSize-len(in.buf))
		in.buf = append(in.buf, b[:n]...)
		in.mu.Unlock()
		if n > 0 {
			signal(in.ready)
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
		select {
		case <-in.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
