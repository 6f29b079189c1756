package virtio

import (
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

// Transfer runs preadv (or pwritev when write) on fd at offset off until
// every byte moved, in calls of at most MaxIOV segments.
func (s *IOVecs) Transfer(fd int, off int64, write bool) error {
	trap := uintptr(unix.SYS_PREADV)
	if write {
		trap = unix.SYS_PWRITEV
	}
	v := s.v // the backing array stays with s for reuse
	for len(v) > 0 {
		cnt := min(len(v), MaxIOV)
		lo, hi := offs2lohi(off)
		n, _, e := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(cnt), lo, hi, 0)
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
