package blk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
)

// SectorSize is virtio-blk's unit of addressing.
const SectorSize = 512

// DiskOptions are a disk's -d options.
type DiskOptions struct {
	Path     string
	ReadOnly bool
	Direct   bool   // O_DIRECT: bypass the host page cache
	Serial   string // GET_ID answer; the file's base name when empty
}

// ErrDiskInUse says another process holds the image's lock.
var ErrDiskInUse = errors.New("in use by another process")

var _ io.Closer = (*Disk)(nil)

// Disk is an open raw image file.
type Disk struct {
	opts     DiskOptions
	f        *os.File
	fd       int
	directFd int // -1 unless Direct
	size     int64
	// Capacity in sectors: a trailing partial sector is not visible.
	sectors uint64
	// directIOs counts requests that went through O_DIRECT.
	directIOs atomic.Uint64
}

// OpenDisk opens and locks an image: exclusively when writable, shared
// when read-only, so two VMs never write one image. What the user can
// change is a vmm.ConfigError: no such file, a directory, no permission (or
// a read-only file system), an image in use, O_DIRECT where the file system
// has none. Errors wrap their cause: errors.Is(err, fs.ErrPermission)
// works.
func OpenDisk(o DiskOptions) (*Disk, error) {
	flags := os.O_RDWR
	if o.ReadOnly {
		flags = os.O_RDONLY
	}
	fi, err := os.Stat(o.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, configError(err, "disk %s: no such file", o.Path)
		}
		err = fmt.Errorf("disk %s: %w", o.Path, err)
		if errors.Is(err, fs.ErrPermission) {
			return nil, &vmm.ConfigError{Err: err}
		}
		return nil, err
	}
	if fi.IsDir() {
		return nil, vmm.Configf("disk %s: is a directory", o.Path)
	}
	f, err := os.OpenFile(o.Path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(o.Path, err)
	}
	d := &Disk{opts: o, f: f, fd: int(f.Fd()), directFd: -1}
	lock := unix.LOCK_EX
	if o.ReadOnly {
		lock = unix.LOCK_SH
	}
	if err := unix.Flock(d.fd, lock|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, vmm.Configf("disk %s: %w (another gokvm has it open read-write, or it is open read-only elsewhere)", o.Path, ErrDiskInUse)
		}
		return nil, fmt.Errorf("disk %s: locking: %w", o.Path, err)
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk %s: size: %w", o.Path, err)
	}
	d.size, d.sectors = size, uint64(size)/SectorSize
	if o.Direct {
		fd, err := unix.Open(o.Path, flags|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err != nil {
			f.Close()
			err = fmt.Errorf("disk %s: opening with O_DIRECT: %w (does the file system support it?)", o.Path, err)
			if errors.Is(err, unix.EINVAL) {
				return nil, &vmm.ConfigError{Err: err}
			}
			return nil, err
		}
		d.directFd = fd
	}
	if d.opts.Serial == "" {
		d.opts.Serial = filepath.Base(o.Path)
	}
	return d, nil
}

// openError is OpenDisk's error when the image does not open: the user's
// to fix when it is a matter of permission.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return configError(err, "disk %s: permission denied (add ,ro for a read-only disk)", path)
	case errors.Is(err, unix.EROFS):
		return &vmm.ConfigError{Err: fmt.Errorf("disk %s: %w", path, err)}
	}
	return fmt.Errorf("disk %s: %w", path, err)
}

// Size is the image's byte size.
func (d *Disk) Size() int64 { return d.size }

// Sectors is the capacity the guest sees.
func (d *Disk) Sectors() uint64 { return d.sectors }

// Flush makes what was written durable.
func (d *Disk) Flush() error {
	if d.opts.ReadOnly {
		return nil
	}
	return unix.Fdatasync(d.fd)
}

// Close flushes and closes the image; later calls do nothing.
func (d *Disk) Close() error {
	if d.f == nil {
		return nil
	}
	err := d.Flush()
	if d.directFd >= 0 {
		unix.Close(d.directFd)
		d.directFd = -1
	}
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	if err != nil {
		return fmt.Errorf("disk %s: %w", d.opts.Path, err)
	}
	return nil
}

// punch deallocates a range (it reads back as zeros), keeping the size.
func (d *Disk) punch(off, n int64) error {
	return unix.Fallocate(d.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// zero makes a range read as zeros, keeping it allocated; it falls back to
// writing zeros where the file system has no ZERO_RANGE, checking stop
// between writes (virtio.ErrStopped).
func (d *Disk) zero(off, n int64, buf []byte, stop <-chan struct{}) error {
	err := unix.Fallocate(d.fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil || !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	clear(buf)
	for n > 0 {
		select {
		case <-stop:
			return virtio.ErrStopped
		default:
		}
		c := min(n, int64(len(buf)))
		if _, err := unix.Pwrite(d.fd, buf[:c], off); err != nil {
			return err
		}
		off, n = off+c, n-c
	}
	return nil
}
