package main

import (
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// escapeChar starts a console escape, as in QEMU: Ctrl-A x quits,
// Ctrl-A Ctrl-A sends a Ctrl-A.
const escapeChar = 0x01

// console connects the process's standard input to the guest's serial port.
type console struct {
	in      io.Reader
	tty     int // file descriptor of a terminal on stdin, or -1
	escape  chan struct{}
	escOnce sync.Once
}

func newConsole(stdin io.Reader, stdout io.Writer) *console {
	c := &console{in: stdin, tty: -1, escape: make(chan struct{})}
	if f, ok := stdin.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			c.tty = int(f.Fd())
		}
	}
	return c
}

// input is what the guest reads. A terminal's input goes through the
// escape filter; anything else (a pipe, a file) passes unchanged.
func (c *console) input() io.Reader {
	if c.in == nil {
		return nil
	}
	if c.tty < 0 {
		return c.in
	}
	return &escapeFilter{r: c.in, quit: func() { c.escOnce.Do(func() { close(c.escape) }) }}
}

// escaped is closed when the user types Ctrl-A x.
func (c *console) escaped() <-chan struct{} { return c.escape }

// makeRaw puts a terminal on stdin into raw mode, so keys like Ctrl-C reach
// the guest, and returns the function that restores it.
func (c *console) makeRaw() (restore func()) {
	if c.tty < 0 {
		return func() {}
	}
	old, err := unix.IoctlGetTermios(c.tty, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(c.tty, unix.TCSETS, &raw); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(c.tty, unix.TCSETS, old) }
}

// escapeFilter removes console escapes from terminal input.
type escapeFilter struct {
	r       io.Reader
	quit    func()
	detach  func() // Ctrl-A d, when not nil (gokvm console)
	pending bool   // the last byte read was an unconsumed Ctrl-A
	ready   []byte // filtered bytes not yet returned
	buf     [256]byte
}

func (f *escapeFilter) Read(p []byte) (int, error) {
	for len(f.ready) == 0 {
		n, err := f.r.Read(f.buf[:])
		for _, b := range f.buf[:n] {
			switch {
			case f.pending:
				f.pending = false
				switch b {
				case 'x', 'X':
					f.quit()
				case 'd', 'D':
					if f.detach == nil {
						f.ready = append(f.ready, escapeChar, b)
						break
					}
					f.detach()
				case escapeChar:
					f.ready = append(f.ready, escapeChar)
				default:
					f.ready = append(f.ready, escapeChar, b)
				}
			case b == escapeChar:
				f.pending = true
			default:
				f.ready = append(f.ready, b)
			}
		}
		if err != nil && len(f.ready) == 0 {
			return 0, err
		}
	}
	n := copy(p, f.ready)
	f.ready = f.ready[n:]
	return n, nil
}
