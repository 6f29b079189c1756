package virtio

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PacketIO is where virtio-net's frames go and come from: a tap, or in tests
// one end of a datagram socketpair. Frames carry the virtio-net header.
type PacketIO interface {
	// ReadPacket reads one frame into buf, waiting for one; it returns
	// os.ErrDeadlineExceeded after Interrupt.
	ReadPacket(buf []byte) (int, error)
	// WritePacket writes one frame gathered from iov, waiting while the
	// backend is full; it returns os.ErrDeadlineExceeded after Interrupt.
	WritePacket(iov *iovecs) error
	// SetOffload and SetHeaderSize match the backend to what the driver
	// negotiated.
	SetOffload(flags uint) error
	SetHeaderSize(n int) error
	// Interrupt makes blocked reads and writes return; Resume ends that.
	Interrupt()
	Resume()
}

// fileIO is a PacketIO over a non-blocking file in Go's poller.
type fileIO struct {
	f   *os.File
	rc  syscall.RawConn
	tap *Tap // nil for a socketpair
}

// NewTapIO makes the tap a PacketIO.
func NewTapIO(t *Tap) (PacketIO, error) {
	rc, err := t.File().SyscallConn()
	if err != nil {
		return nil, err
	}
	return &fileIO{f: t.File(), rc: rc, tap: t}, nil
}

// newFileIO wraps a non-blocking packet file (tests use a socketpair).
func newFileIO(f *os.File) (*fileIO, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &fileIO{f: f, rc: rc}, nil
}

func (p *fileIO) ReadPacket(buf []byte) (int, error) {
	var n int
	var rerr error
	err := p.rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

func (p *fileIO) WritePacket(iov *iovecs) error {
	if len(iov.v) == 0 {
		return nil
	}
	if len(iov.v) > maxIOV {
		return fmt.Errorf("%d segments, more than %d", len(iov.v), maxIOV)
	}
	var werr error
	err := p.rc.Write(func(fd uintptr) bool {
		_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov.v[0])), uintptr(len(iov.v)))
		if e == unix.EAGAIN {
			return false
		}
		if e != 0 {
			werr = e
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
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
		return fmt.Errorf("TUNSETVNETHDRSZ %d: %v", n, e)
	}
	return nil
}

func (p *fileIO) Interrupt() { p.f.SetDeadline(time.Unix(1, 0)) }
func (p *fileIO) Resume()    { p.f.SetDeadline(time.Time{}) }

// interrupted reports whether err came from Interrupt.
func interrupted(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
