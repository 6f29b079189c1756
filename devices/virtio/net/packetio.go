package net

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
)

// PacketIO is where virtio-net's frames go and come from: a tap, or in tests
// one end of a datagram socketpair. Frames carry the virtio-net header.
type PacketIO interface {
	// ReadPacket reads one frame into buf, waiting for one; it returns
	// os.ErrDeadlineExceeded after Interrupt.
	ReadPacket(buf []byte) (int, error)
	// WritePacket writes one frame gathered from iov, waiting while the
	// backend is full; it returns os.ErrDeadlineExceeded after Interrupt.
	WritePacket(iov *virtio.IOVecs) error
	// SetOffload and SetHeaderSize match the backend to what the driver
	// negotiated.
	SetOffload(flags uint) error
	SetHeaderSize(n int) error
	// Interrupt makes blocked reads and writes return; Resume ends that.
	Interrupt()
	Resume()
	// Close releases the backend (a tap gokvm created disappears);
	// calls after the first do nothing.
	Close() error
}

var _ PacketIO = (*fileIO)(nil)

// fileIO is a PacketIO over a non-blocking file in Go's poller.
type fileIO struct {
	f         *os.File
	rc        syscall.RawConn
	tap       *Tap // nil for a socketpair
	closeOnce sync.Once

	// rd and wr are a read's and a write's arguments and results, for
	// the functions RawConn calls with the descriptor: made once, so
	// that a frame costs no allocation (a closure per call would
	// escape, with what it captures).
	rd struct {
		sync.Mutex
		fn  func(fd uintptr) bool
		buf []byte
		n   int
		err error
	}
	wr struct {
		sync.Mutex
		fn   func(fd uintptr) bool
		segs []unix.Iovec
		err  error
	}
}

// NewTapIO makes the tap a PacketIO, which owns it from then on: closing
// the PacketIO closes the tap.
func NewTapIO(t *Tap) (PacketIO, error) {
	p, err := newFileIO(t.File())
	if err != nil {
		return nil, err
	}
	p.tap = t
	return p, nil
}

// newFileIO wraps a non-blocking packet file (tests use a socketpair).
func newFileIO(f *os.File) (*fileIO, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	p := &fileIO{f: f, rc: rc}
	p.rd.fn, p.wr.fn = p.readFD, p.writeFD
	return p, nil
}

func (p *fileIO) ReadPacket(buf []byte) (int, error) {
	p.rd.Lock()
	defer p.rd.Unlock()
	p.rd.buf = buf
	err := p.rc.Read(p.rd.fn)
	n, rerr := p.rd.n, p.rd.err
	p.rd.buf, p.rd.err = nil, nil
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// readFD is ReadPacket's read, p.rd held.
func (p *fileIO) readFD(fd uintptr) bool {
	p.rd.n, p.rd.err = unix.Read(int(fd), p.rd.buf)
	return p.rd.err != unix.EAGAIN
}

func (p *fileIO) WritePacket(iov *virtio.IOVecs) error {
	segs := iov.Segments()
	if len(segs) == 0 {
		return nil
	}
	if len(segs) > virtio.MaxIOV {
		return fmt.Errorf("%d segments, more than %d", len(segs), virtio.MaxIOV)
	}
	p.wr.Lock()
	defer p.wr.Unlock()
	p.wr.segs = segs
	err := p.rc.Write(p.wr.fn)
	werr := p.wr.err
	p.wr.segs, p.wr.err = nil, nil
	if err != nil {
		return err
	}
	return werr
}

// writeFD is WritePacket's write, p.wr held.
func (p *fileIO) writeFD(fd uintptr) bool {
	segs := p.wr.segs
	_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&segs[0])), uintptr(len(segs)))
	if e == unix.EAGAIN {
		return false
	}
	if e != 0 {
		p.wr.err = e
	}
	return true
}

func (p *fileIO) SetOffload(flags uint) error {
	if p.tap == nil {
		return nil
	}
	return p.tap.SetOffload(flags)
}

func (p *fileIO) SetHeaderSize(n int) error {
	if p.tap == nil {
		return nil
	}
	hdr := int32(n)
	var e syscall.Errno
	p.rc.Control(func(fd uintptr) {
		_, _, e = unix.Syscall(unix.SYS_IOCTL, fd, unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdr)))
	})
	if e != 0 {
		return fmt.Errorf("TUNSETVNETHDRSZ %d: %w", n, e)
	}
	return nil
}

func (p *fileIO) Interrupt() { p.f.SetDeadline(time.Unix(1, 0)) }
func (p *fileIO) Resume()    { p.f.SetDeadline(time.Time{}) }

// Close closes the file, through the tap when it is one.
func (p *fileIO) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if p.tap != nil {
			err = p.tap.Close()
		} else {
			err = p.f.Close()
		}
	})
	return err
}

// interrupted reports whether err came from Interrupt.
func interrupted(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
