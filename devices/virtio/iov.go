package virtio

import (
	"errors"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// IOVecs is a reusable scatter-gather list over guest buffers, so block and
// network I/O go straight between the file and guest RAM without copies or
// per-request allocations. Its zero value is an empty list.
type IOVecs struct {
	v []unix.Iovec
}

// Reset empties the list, keeping its room.
func (s *IOVecs) Reset() { s.v = s.v[:0] }

// Add appends b; an empty b adds nothing.
func (s *IOVecs) Add(b []byte) {
	if len(b) == 0 {
		return
	}
	var iov unix.Iovec
	iov.Base = &b[0]
	iov.SetLen(len(b))
	s.v = append(s.v, iov)
}

// Segments is the list as the kernel takes it (readv, writev), valid until
// the next Reset or Add.
func (s *IOVecs) Segments() []unix.Iovec { return s.v }

// Total is the byte count of every segment.
func (s *IOVecs) Total() (n int) {
	for _, v := range s.v {
		n += int(v.Len)
	}
	return n
}

// Aligned reports whether every segment starts and ends on an a-byte
// boundary, as O_DIRECT wants.
func (s *IOVecs) Aligned(a uintptr) bool {
	for _, v := range s.v {
		if uintptr(unsafe.Pointer(v.Base))%a != 0 || uintptr(v.Len)%a != 0 {
			return false
		}
	}
	return true
}

// advance drops the first n bytes of v after a partial transfer.
func advance(v []unix.Iovec, n int) []unix.Iovec {
	for n > 0 && len(v) > 0 {
		l := int(v[0].Len)
		if n < l {
			v[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(v[0].Base), n))
			v[0].SetLen(l - n)
			return v
		}
		n -= l
		v = v[1:]
	}
	return v
}

func offs2lohi(off int64) (lo, hi uintptr) {
	const longBits = unsafe.Sizeof(uintptr(0)) * 8
	return uintptr(off), uintptr(uint64(off) >> (longBits - 1) >> 1)
}

// MaxIOV is the kernel's IOV_MAX: the most segments one call takes.
const MaxIOV = 1024

// TransferChunk is the most bytes one Transfer call moves: a stop is
// noticed between calls, so a device stops within that much I/O however
// large the guest's request (1 MiB from the page cache takes well under a
// millisecond). It is a multiple of any O_DIRECT alignment.
const TransferChunk = 1 << 20

// ErrStopped is returned by a transfer that stop ended before every byte
// moved.
var ErrStopped = errors.New("stopped")

// Transfer runs preadv (or pwritev when write) on fd at offset off until
// every byte moved, in calls of at most MaxIOV segments and TransferChunk
// bytes. Before each call it checks stop (nil never stops), returning
// ErrStopped once it is closed.
func (s *IOVecs) Transfer(fd int, off int64, write bool, stop <-chan struct{}) error {
	trap := uintptr(unix.SYS_PREADV)
	if write {
		trap = unix.SYS_PWRITEV
	}
	v := s.v // the backing array stays with s for reuse
	for len(v) > 0 {
		select {
		case <-stop:
			return ErrStopped
		default:
		}
		cnt, cut := chunk(v)
		var saved uint64
		if cut {
			// The first segment alone is larger than a chunk: move
			// its first chunk, then the rest.
			saved = uint64(v[0].Len)
			v[0].SetLen(TransferChunk)
		}
		lo, hi := offs2lohi(off)
		n, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(cnt), lo, hi, 0)
		if cut {
			v[0].SetLen(int(saved))
		}
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		v = advance(v, int(n))
		off += int64(n)
	}
	return nil
}

// chunk is how many of v's first segments one call moves: at most MaxIOV,
// and at most TransferChunk bytes, or one segment cut to TransferChunk
// bytes when the first is larger.
func chunk(v []unix.Iovec) (cnt int, cut bool) {
	total := uint64(0)
	for cnt < len(v) && cnt < MaxIOV {
		l := uint64(v[cnt].Len)
		if total+l > TransferChunk {
			break
		}
		total += l
		cnt++
	}
	if cnt == 0 {
		return 1, true
	}
	return cnt, false
}
