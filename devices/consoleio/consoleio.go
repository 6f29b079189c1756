// Package consoleio moves the host's console input into whichever device
// is the guest's terminal (the 16550, the PL011, virtio-console): the copy
// loop and its goroutine are written once.
package consoleio

import (
	"context"
	"io"
	"log"
)

// Feeder is a console device that takes input for the guest, waiting
// while it has no room, until ctx ends.
type Feeder interface {
	Feed(ctx context.Context, b []byte) error
}

// Feed gives b to a device in as many pieces as it takes: push takes
// what fits now and says how much; room is signalled when the device made
// more. It returns ctx's error when ctx ends before all of b went in.
func Feed(ctx context.Context, b []byte, push func([]byte) int, room <-chan struct{}) error {
	for len(b) > 0 {
		b = b[push(b):]
		if len(b) == 0 {
			return nil
		}
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Pump copies r into f until r ends (nil) or ctx is done.
func Pump(ctx context.Context, f Feeder, r io.Reader) error {
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if ferr := f.Feed(ctx, buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Start pumps in into f on a goroutine of its own until ctx ends (a
// device's vmm.Starter); a failure while the machine runs is logged as
// what's input. A nil in starts nothing.
func Start(ctx context.Context, f Feeder, in io.Reader, logger *log.Logger, what string) {
	if in == nil {
		return
	}
	go func() {
		if err := Pump(ctx, f, in); err != nil && ctx.Err() == nil && logger != nil {
			logger.Printf("%s input: %v", what, err)
		}
	}()
}
