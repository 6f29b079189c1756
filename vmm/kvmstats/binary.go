package kvmstats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// KVM's binary statistics (KVM_GET_STATS_FD on a VM or vcpu descriptor,
// Documentation/virt/kvm/api.rst 4.133, struct kvm_stats_header and
// struct kvm_stats_desc in linux/kvm.h) are a file laid out as
//
//	header: flags, name_size, num_desc, id_offset, desc_offset, data_offset (u32 each)
//	id:     name_size bytes at id_offset, NUL-terminated ("kvm-PID", "kvm-PID/vcpu-N")
//	descs:  num_desc entries at desc_offset, each flags (u32), exponent (s16),
//	        size (u16: how many u64 values), offset (u32, into the data),
//	        bucket_size (u32), then name_size bytes of NUL-terminated name
//	data:   at data_offset, each statistic's size u64 values at its offset
//
// in the host's byte order. The header, id and descriptors do not change
// for the life of the file; only the data does, so it is read again each
// time.

// ErrBadStats is wrapped by every error about a statistics file that does
// not hold what the layout says (cut short, offsets out of range).
var ErrBadStats = errors.New("malformed KVM binary statistics")

const (
	headerSize = 24
	descSize   = 16 // struct kvm_stats_desc without its name

	// Bounds far above what any kernel writes (names of at most 48
	// bytes, a few dozen statistics, a few KiB of data), so that a
	// file cut short or garbled costs an error, not a huge allocation.
	maxNameSize  = 1024
	maxStats     = 4096
	maxDescBytes = 1 << 20
	maxDataBytes = 1 << 20
)

// Type is a statistic's kind (KVM_STATS_TYPE_*).
type Type uint32

// The kinds of statistics.
const (
	TypeCumulative Type = 0 // a count that only grows: exits, wakeups, nanoseconds
	TypeInstant    Type = 1 // a current value
	TypePeak       Type = 2 // the largest value seen
	TypeLinearHist Type = 3 // a histogram with buckets of BucketSize
	TypeLogHist    Type = 4 // a histogram with power-of-two buckets
)

// Desc describes one statistic.
type Desc struct {
	Name       string
	Flags      uint32 // type, unit and base (KVM_STATS_TYPE/UNIT/BASE_*)
	Exponent   int16  // the unit's power of Base: -9 for nanoseconds
	Size       uint16 // how many u64 values (1, or a histogram's buckets)
	Offset     uint32 // of its values in the data block
	BucketSize uint32 // a linear histogram's bucket width
}

// Type is the statistic's kind.
func (d Desc) Type() Type { return Type(d.Flags & 0xf) }

// Schema is what a statistics file says about itself, read once.
type Schema struct {
	ID    string
	Stats []Desc
	// dataOffset and dataSize are where the values are: the bytes from
	// the data block's start to the end of its last statistic.
	dataOffset int64
	dataSize   int
}

// ReadSchema reads the header, id and descriptors of a statistics file.
func ReadSchema(r io.ReaderAt) (*Schema, error) {
	hdr := make([]byte, headerSize)
	if err := readFull(r, hdr, 0, "header"); err != nil {
		return nil, err
	}
	u32 := func(i int) uint32 { return binary.NativeEndian.Uint32(hdr[4*i:]) }
	nameSize, num := u32(1), u32(2)
	idOff, descOff, dataOff := u32(3), u32(4), u32(5)
	switch {
	case nameSize == 0 || nameSize > maxNameSize:
		return nil, fmt.Errorf("%w: name size %d (1 to %d)", ErrBadStats, nameSize, maxNameSize)
	case num > maxStats:
		return nil, fmt.Errorf("%w: %d statistics (at most %d)", ErrBadStats, num, maxStats)
	}
	entry := descSize + int(nameSize)
	if num*uint32(entry) > maxDescBytes {
		return nil, fmt.Errorf("%w: %d descriptors of %d bytes", ErrBadStats, num, entry)
	}
	id := make([]byte, nameSize)
	if err := readFull(r, id, int64(idOff), "id"); err != nil {
		return nil, err
	}
	descs := make([]byte, int(num)*entry)
	if err := readFull(r, descs, int64(descOff), "descriptors"); err != nil {
		return nil, err
	}
	s := &Schema{ID: cString(id), dataOffset: int64(dataOff)}
	for i := 0; i < int(num); i++ {
		b := descs[i*entry : (i+1)*entry]
		d := Desc{
			Flags:      binary.NativeEndian.Uint32(b[0:]),
			Exponent:   int16(binary.NativeEndian.Uint16(b[4:])),
			Size:       binary.NativeEndian.Uint16(b[6:]),
			Offset:     binary.NativeEndian.Uint32(b[8:]),
			BucketSize: binary.NativeEndian.Uint32(b[12:]),
			Name:       cString(b[descSize:]),
		}
		if d.Name == "" {
			return nil, fmt.Errorf("%w: statistic %d has no name", ErrBadStats, i)
		}
		end := uint64(d.Offset) + 8*uint64(d.Size)
		if end > maxDataBytes {
			return nil, fmt.Errorf("%w: statistic %s ends at byte %d of the data (at most %d)", ErrBadStats, d.Name, end, maxDataBytes)
		}
		s.dataSize = max(s.dataSize, int(end))
		s.Stats = append(s.Stats, d)
	}
	return s, nil
}

// ReadCounters reads the current values and returns the cumulative
// statistics of one value (exits, halt_wakeup, halt_wait_ns, ...) as
// kvm.NAME. Instants and histograms are left out: a difference of two
// readings means nothing for them.
func (s *Schema) ReadCounters(r io.ReaderAt) (Counters, error) {
	data := make([]byte, s.dataSize)
	if err := readFull(r, data, s.dataOffset, "data"); err != nil {
		return nil, err
	}
	c := Counters{}
	for _, d := range s.Stats {
		if d.Type() != TypeCumulative || d.Size != 1 {
			continue
		}
		c["kvm."+d.Name] = binary.NativeEndian.Uint64(data[d.Offset:])
	}
	return c, nil
}

// readFull reads len(b) bytes at off; what is cut short is ErrBadStats.
func readFull(r io.ReaderAt, b []byte, off int64, what string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: reading the %s (%d bytes at %d): %w", ErrBadStats, what, len(b), off, err)
}

// cString is b up to its first NUL.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}

// FD reads a file descriptor with pread, which the run phase's seccomp
// filter allows: an io.ReaderAt that needs no os.File (and so no poller
// and no fcntl).
type FD int

// ReadAt reads len(p) bytes at off, or fewer at the end of the file.
func (fd FD) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Pread(int(fd), p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// File is an open binary statistics file.
type File struct {
	fd     FD
	schema *Schema
}

// OpenFile reads the schema of the statistics file open at fd, which the
// File owns from here on (also when OpenFile fails: it is closed).
func OpenFile(fd int) (*File, error) {
	s, err := ReadSchema(FD(fd))
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &File{fd: FD(fd), schema: s}, nil
}

// ID is the file's id string ("kvm-PID", "kvm-PID/vcpu-N").
func (f *File) ID() string { return f.schema.ID }

// Read returns the cumulative counters now (Schema.ReadCounters).
func (f *File) Read() (Counters, error) { return f.schema.ReadCounters(f.fd) }

// Close closes the descriptor.
func (f *File) Close() error { return unix.Close(int(f.fd)) }
