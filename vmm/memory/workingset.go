package memory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// A WorkingSet says, page by page, what one run of a restored machine did
// with guest RAM: left it alone, read it, or wrote it. A restore maps RAM
// from its file lazily, so each page the guest touches first costs a host
// page fault and a stage-2 fault, one exit each; a working set recorded
// by an earlier run of the same saved machine lets the next one map those
// pages in a few madvise calls before the guest runs (Prefault).
type WorkingSet []PageUse

// PageUse is what a run did with one page.
type PageUse uint8

const (
	PageUntouched PageUse = iota
	PageRead              // mapped from the RAM file (or the zero page), never written
	PageWritten           // written: a private copy of the file's page
)

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pagemapPresent   = 1 << 63
	pagemapFile      = 1 << 61 // file page or shared anonymous: not our private copy
	pagemapExclusive = 1 << 56 // mapped once: a private copy, not the shared zero page
)

// WorkingSet reads which pages of RAM are mapped in gokvm's page tables
// now, and which of them are private copies (written since the mapping
// was made), from pagemap, an open /proc/self/pagemap. A page of RAM's
// anonymous holes that was only read maps the shared zero page, neither
// a file page nor exclusive: it counts as read, so that a prefault maps
// the zero page again rather than allocate memory for it. It reads with
// pread64 only, so a machine under its system call filter can call it
// with a file opened before.
func (m *GuestMemory) WorkingSet(pagemap *os.File) (WorkingSet, error) {
	pages := len(m.mem) / pageSize
	ws := make(WorkingSet, pages)
	const chunk = 8192 // entries a read: 64 KiB
	buf := make([]byte, chunk*8)
	first := int64(m.HostAddr() / pageSize)
	for p := 0; p < pages; p += chunk {
		n := min(chunk, pages-p)
		b := buf[:n*8]
		if _, err := pagemap.ReadAt(b, (first+int64(p))*8); err != nil {
			return nil, fmt.Errorf("reading %s: %w", pagemap.Name(), err)
		}
		for i := 0; i < n; i++ {
			e := binary.LittleEndian.Uint64(b[i*8:])
			switch {
			case e&pagemapPresent == 0:
			case e&pagemapFile != 0, e&pagemapExclusive == 0:
				ws[p+i] = PageRead
			default:
				ws[p+i] = PageWritten
			}
		}
	}
	return ws, nil
}

// Counts are how many pages were read and written.
func (ws WorkingSet) Counts() (read, written int) {
	for _, u := range ws {
		switch u {
		case PageRead:
			read++
		case PageWritten:
			written++
		}
	}
	return read, written
}

// Prefault maps the pages ws says were touched: those written as private
// copies (MADV_POPULATE_WRITE), those read from the file
// (MADV_POPULATE_READ), a run of alike pages a call. ws must be of this
// RAM's size. A kernel without MADV_POPULATE (before 5.14) gives
// ErrNoPopulate: nothing is lost, the guest faults its pages in itself.
func (m *GuestMemory) Prefault(ws WorkingSet) error {
	if len(ws) != len(m.mem)/pageSize {
		return fmt.Errorf("%w: a working set of %d pages for %d pages of RAM", ErrBadSize, len(ws), len(m.mem)/pageSize)
	}
	for p := 0; p < len(ws); {
		u := ws[p]
		end := p + 1
		for end < len(ws) && ws[end] == u {
			end++
		}
		if u != PageUntouched {
			advice := unix.MADV_POPULATE_READ
			if u == PageWritten {
				advice = unix.MADV_POPULATE_WRITE
			}
			if err := unix.Madvise(m.mem[p*pageSize:end*pageSize], advice); err != nil {
				if errors.Is(err, unix.EINVAL) {
					return ErrNoPopulate
				}
				return fmt.Errorf("prefaulting guest RAM pages %d-%d: %w", p, end-1, err)
			}
		}
		p = end
	}
	return nil
}

// ErrNoPopulate: the host kernel has no MADV_POPULATE_READ/WRITE.
var ErrNoPopulate = errors.New("the host kernel cannot prefault (no MADV_POPULATE, Linux 5.14)")

// The working set's file: a magic, the page count, then two bits a page,
// four pages a byte, the first page in the low bits.
var workingSetMagic = [8]byte{'G', 'K', 'V', 'M', 'W', 'S', '0', '1'}

// maxWorkingSetPages bounds what ReadWorkingSet allocates from a file:
// 1 TiB of RAM in 4 KiB pages.
const maxWorkingSetPages = 1 << 28

// WriteTo writes ws in its file format.
func (ws WorkingSet) WriteTo(w io.Writer) (int64, error) {
	b := make([]byte, 16, 16+(len(ws)+3)/4)
	copy(b, workingSetMagic[:])
	binary.LittleEndian.PutUint64(b[8:], uint64(len(ws)))
	for i := 0; i < len(ws); i += 4 {
		var v byte
		for j := 0; j < 4 && i+j < len(ws); j++ {
			v |= byte(ws[i+j]&3) << (2 * j)
		}
		b = append(b, v)
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ReadWorkingSet reads a working set file written by WriteTo, of pages
// pages; a file of another size, magic or content is an error.
func ReadWorkingSet(r io.Reader, pages int) (WorkingSet, error) {
	if pages < 0 || pages > maxWorkingSetPages {
		return nil, fmt.Errorf("%w: %d pages", ErrBadSize, pages)
	}
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("working set: %w", err)
	}
	if [8]byte(hdr[:8]) != workingSetMagic {
		return nil, errors.New("working set: not a working set file")
	}
	if n := binary.LittleEndian.Uint64(hdr[8:]); n != uint64(pages) {
		return nil, fmt.Errorf("working set: %d pages, the machine has %d", n, pages)
	}
	b := make([]byte, (pages+3)/4)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("working set: %w", err)
	}
	if pad := pages % 4; pad != 0 && b[len(b)-1]>>(2*pad) != 0 {
		// Strict, so that one working set has one encoding.
		return nil, errors.New("working set: bits set past the last page")
	}
	ws := make(WorkingSet, pages)
	for i := range ws {
		u := PageUse(b[i/4]>>(2*(i%4))) & 3
		if u > PageWritten {
			return nil, fmt.Errorf("working set: page %d has use %d", i, u)
		}
		ws[i] = u
	}
	return ws, nil
}
