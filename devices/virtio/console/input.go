package console

import (
	"context"
	"sync"

	"github.com/gokvm/gokvm/devices/consoleio"
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

// Feed queues b, waiting while the buffer is full; it returns ctx's error
// when ctx ends first.
func (in *input) Feed(ctx context.Context, b []byte) error {
	return consoleio.Feed(ctx, b, in.push, in.room)
}

// push takes what fits of b into the buffer.
func (in *input) push(b []byte) int {
	in.mu.Lock()
	n := min(len(b), inputSize-len(in.buf))
	in.buf = append(in.buf, b[:n]...)
	in.mu.Unlock()
	if n > 0 {
		signal(in.ready)
	}
	return n
}

// pending is a copy of what waits for the guest.
func (in *input) pending() []byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]byte(nil), in.buf...)
}

// set replaces what waits for the guest with b (at most inputSize bytes).
func (in *input) set(b []byte) {
	in.mu.Lock()
	in.buf = append(in.buf[:0], b...)
	in.mu.Unlock()
	if len(b) > 0 {
		signal(in.ready)
	}
}
