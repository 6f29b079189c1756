// Package lab is the protocol between labhost (on the x86 LAVA worker) and
// labagent (the init of the emulated arm64 host): one TCP connection per
// command, a JSON request line, then frames both ways.
//
//	client -> agent: {"op":"exec","argv":[...]} | {"op":"put","path":P} |
//	                 {"op":"ping"} | {"op":"poweroff"}, a newline, then
//	                 FrameStdin frames and one FrameStdinEnd
//	agent -> client: FrameStdout / FrameStderr frames, then one FrameExit
//	                 (4-byte big-endian status) or FrameError (a message)
//
// A frame is a type byte, a 4-byte big-endian length and that many bytes.
package lab

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Frame types.
const (
	FrameStdin    = 'i'
	FrameStdinEnd = 'I'
	FrameStdout   = 'o'
	FrameStderr   = 'e'
	FrameExit     = 'x'
	FrameError    = 'E'
)

// MaxFrame bounds a frame's data: a peer claiming more is broken.
const MaxFrame = 1 << 20

// MaxRequest bounds the request line.
const MaxRequest = 64 << 10

// AgentPort is the agent's TCP port inside the emulated host.
const AgentPort = 7000

// Request is the first line of a connection.
type Request struct {
	Op   string   `json:"op"`
	Argv []string `json:"argv,omitempty"`
	Path string   `json:"path,omitempty"`
}

// WriteRequest sends the request line.
func WriteRequest(w io.Writer, r Request) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadRequest reads the request line.
func ReadRequest(br *bufio.Reader) (Request, error) {
	var line []byte
	for {
		part, more, err := br.ReadLine()
		if err != nil {
			return Request{}, fmt.Errorf("reading the request: %w", err)
		}
		line = append(line, part...)
		if len(line) > MaxRequest {
			return Request{}, errors.New("request line too long")
		}
		if !more {
			break
		}
	}
	var r Request
	if err := json.Unmarshal(line, &r); err != nil {
		return Request{}, fmt.Errorf("bad request: %w", err)
	}
	return r, nil
}

// FrameWriter writes frames from several goroutines.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter writes frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write sends one frame (data is split into MaxFrame pieces).
func (f *FrameWriter) Write(typ byte, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		n := len(data)
		if n > MaxFrame {
			n = MaxFrame
		}
		var hdr [5]byte
		hdr[0] = typ
		binary.BigEndian.PutUint32(hdr[1:], uint32(n))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return err
		}
		if n > 0 {
			if _, err := f.w.Write(data[:n]); err != nil {
				return err
			}
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// Exit sends the exit status.
func (f *FrameWriter) Exit(status int) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(status)))
	return f.Write(FrameExit, b[:])
}

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes (most %d)", n, MaxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, fmt.Errorf("frame data: %w", err)
	}
	return hdr[0], data, nil
}

// ExitStatus decodes a FrameExit's data.
func ExitStatus(data []byte) (int, error) {
	if len(data) != 4 {
		return 0, fmt.Errorf("exit frame of %d bytes", len(data))
	}
	return int(int32(binary.BigEndian.Uint32(data))), nil
}

// StdinWriter is an io.WriteCloser that sends FrameStdin frames and, on
// Close, FrameStdinEnd.
type StdinWriter struct{ F *FrameWriter }

func (s StdinWriter) Write(p []byte) (int, error) {
	if err := s.F.Write(FrameStdin, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the input.
func (s StdinWriter) Close() error { return s.F.Write(FrameStdinEnd, nil) }

// CopyStdin reads FrameStdin frames from r into w until FrameStdinEnd (nil)
// or an error (the client went away: io.EOF or another).
func CopyStdin(w io.Writer, r io.Reader) error {
	for {
		typ, data, err := ReadFrame(r)
		if err != nil {
			return err
		}
		switch typ {
		case FrameStdin:
			if _, err := w.Write(data); err != nil {
				return err
			}
		case FrameStdinEnd:
			return nil
		default:
			return fmt.Errorf("unexpected frame %q from the client", typ)
		}
	}
}
