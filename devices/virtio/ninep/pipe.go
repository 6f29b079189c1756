package ninep

import (
	"io"
	"sync"
)

// pipe is a one-way byte stream between the device and p9's server that,
// unlike io.Pipe, keeps what is written until it is read: the writer does
// not wait for the reader (while fewer than limit bytes are waiting), so
// a message written in pieces (p9 writes an answer's header, body and
// payload separately) and read in pieces (a header, then the rest) costs
// one wake-up of the other side, not one per piece. Under a loaded host
// each wake-up is a scheduling delay; io.Pipe's rendezvous per piece made
// a 9P round trip several of them.
type pipe struct {
	mu    sync.Mutex
	cond  sync.Cond // data, room, or the end
	buf   []byte
	r     int   // read offset in buf
	limit int   // bytes waiting beyond which a writer waits
	err   error // why the pipe ended; reads drain buf first
}

func newPipe(limit int) *pipe {
	p := &pipe{limit: limit}
	p.cond.L = &p.mu
	return p
}

// Write appends b whole. It waits while more than limit bytes wait to be
// read (a piece larger than limit goes once the pipe is empty), and fails
// once the pipe is closed.
func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.err == nil && len(p.buf)-p.r > 0 && len(p.buf)-p.r+len(b) > p.limit {
		p.cond.Wait()
	}
	if p.err != nil {
		return 0, p.err
	}
	if p.r > 0 && p.r >= len(p.buf)/2 {
		// Reuse the front: the buffer never grows past limit plus a
		// piece.
		n := copy(p.buf, p.buf[p.r:])
		p.buf, p.r = p.buf[:n], 0
	}
	p.buf = append(p.buf, b...)
	p.cond.Broadcast()
	return len(b), nil
}

// Read reads what is waiting, waiting for something; once the pipe is
// closed and drained it returns the close's error.
func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.r == len(p.buf) && p.err == nil {
		p.cond.Wait()
	}
	if p.r == len(p.buf) {
		return 0, p.err
	}
	n := copy(b, p.buf[p.r:])
	p.r += n
	if p.r == len(p.buf) {
		p.buf, p.r = p.buf[:0], 0
	}
	p.cond.Broadcast()
	return n, nil
}

// CloseWithError ends the pipe: writes fail with err at once, reads
// return err once drained. The first error stays.
func (p *pipe) CloseWithError(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Abort ends the pipe as CloseWithError does, and drops what is waiting
// to be read: a device that stops answers none of it, so however much the
// guest queued, the server's reader sees the end at once.
func (p *pipe) Abort(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.buf, p.r = nil, 0
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close ends the pipe with io.EOF (p9's server closes both streams when
// it stops).
func (p *pipe) Close() error {
	p.CloseWithError(io.EOF)
	return nil
}
