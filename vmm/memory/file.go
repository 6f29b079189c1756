package memory

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// NewGuestMemoryFromFile maps a saved RAM file as guest RAM at base,
// privately: the guest's writes go to copies of its pages in gokvm's
// memory and never to the file, so any number of machines restored from
// one file share its page cache until each writes. The file must hold
// exactly size bytes.
//
// Only the file's data is mapped from it: every 2 MiB of RAM that is all
// a hole in the file (WriteRAM leaves RAM's zero pages out, but writes
// the last page) is anonymous memory in transparent huge pages, as a
// booted machine's RAM is. Both read as zeros, but a guest that takes
// fresh memory from there (its free pages) then costs one stage-2 fault
// per 2 MiB instead of one per 4 KiB page, and no page cache is shared
// there anyway.
func NewGuestMemoryFromFile(base, size uint64, f *os.File) (*GuestMemory, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if uint64(fi.Size()) != size {
		return nil, fmt.Errorf("%w: the RAM file %s has %d bytes, the machine %d", ErrBadSize, f.Name(), fi.Size(), size)
	}
	if size == 0 || size > uint64(^uint(0)>>1) || base+size < base {
		return nil, fmt.Errorf("%w: %d bytes at %#x", ErrBadSize, size, base)
	}
	data, err := dataChunks(f, size, hugePageSize)
	if err != nil {
		return nil, fmt.Errorf("finding the data in the RAM file %s: %w", f.Name(), err)
	}
	data = limitMappings(data, size)
	// The file's mappings replace parts of an aligned anonymous
	// reservation, so RAM starts on a huge-page boundary as it does when
	// booted, and what they leave is the anonymous RAM of the holes.
	mem, err := mapAligned(size, hugePageSize)
	if err != nil {
		return nil, fmt.Errorf("mapping %d MiB of guest RAM: %w", size>>20, err)
	}
	g := &GuestMemory{base: base, mem: mem, mmap: true}
	// Transparent huge pages for the holes; failing is harmless.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	for _, r := range data {
		p, err := unix.MmapPtr(int(f.Fd()), int64(r.off), unsafe.Pointer(&mem[r.off]), uintptr(r.len),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_NORESERVE)
		if err == nil && p != unsafe.Pointer(&mem[r.off]) {
			err = fmt.Errorf("mapped at %p, not at %p", p, &mem[r.off])
		}
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("mapping the RAM file %s: %w", f.Name(), err)
		}
	}
	if err := unix.Madvise(mem, unix.MADV_DONTDUMP); err != nil {
		g.Close()
		return nil, fmt.Errorf("excluding guest RAM from core dumps (MADV_DONTDUMP): %w", err)
	}
	return g, nil
}

// fileRange is a range of a file, in bytes.
type fileRange struct{ off, len uint64 }

// maxFileMappings bounds how many mappings of the RAM file a restore
// makes: each is a VMA, twice that with the anonymous holes between them,
// and a process has vm.max_map_count of them (65530 by default). A file
// whose data is scattered wider is mapped whole, holes and all.
const maxFileMappings = 4096

// limitMappings returns data, or all of the file as one range when data
// has more than maxFileMappings ranges.
func limitMappings(data []fileRange, size uint64) []fileRange {
	if len(data) > maxFileMappings {
		return []fileRange{{0, size}}
	}
	return data
}

// dataChunks lists the runs of chunk-sized, chunk-aligned pieces of f's
// first size bytes that hold any data (SEEK_DATA, SEEK_HOLE), each run
// one range. A file system that does not track holes reports all of the
// file as data, or refuses SEEK_DATA: then it is all one range, mapped
// from the file.
func dataChunks(f *os.File, size, chunk uint64) ([]fileRange, error) {
	fd := int(f.Fd())
	var runs []fileRange
	for off := uint64(0); off < size; {
		d, err := unix.Seek(fd, int64(off), unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole from off to the end
		}
		if err == unix.EINVAL && off == 0 {
			return []fileRange{{0, size}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("SEEK_DATA from %#x: %w", off, err)
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("SEEK_HOLE from %#x: %w", d, err)
		}
		start := uint64(d) / chunk * chunk
		end := min((uint64(h)+chunk-1)/chunk*chunk, size)
		if n := len(runs); n > 0 && runs[n-1].off+runs[n-1].len >= start {
			runs[n-1].len = max(runs[n-1].len, end-runs[n-1].off)
		} else {
			runs = append(runs, fileRange{start, end - start})
		}
		off = end
	}
	return runs, nil
}

// pageSize is the unit in which WriteTo leaves holes.
const pageSize = 4096

// WriteRAM writes all of RAM to f from its start, making pages that are
// all zeros holes (most of a guest that just booted is untouched): the
// file reads back the same and takes only the space of what the guest
// wrote. Whatever f held before is overwritten or punched out, so it need
// not be empty; a file longer than RAM keeps its tail (a restore refuses a
// RAM file of the wrong size). It makes only pwrite64 and fallocate calls,
// which a machine's system call filter allows, so that a running machine
// can save into a file its caller opened.
func (m *GuestMemory) WriteRAM(f *os.File) error {
	var zero [pageSize]byte
	isZero := func(off int) bool {
		return bytes.Equal(m.mem[off:min(off+pageSize, len(m.mem))], zero[:min(pageSize, len(m.mem)-off)])
	}
	fd := int(f.Fd())
	off := 0
	for off < len(m.mem) {
		// A run of pages alike is written, or punched out, in one call.
		zeros := isZero(off)
		end := off
		for end < len(m.mem) && end-off < 64<<20 && isZero(end) == zeros {
			end += pageSize
		}
		end = min(end, len(m.mem))
		if !zeros {
			if _, err := f.WriteAt(m.mem[off:end], int64(off)); err != nil {
				return err
			}
		} else if err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(end-off)); err != nil {
			// A file system without holes gets the zeros written.
			if _, err := f.WriteAt(m.mem[off:end], int64(off)); err != nil {
				return err
			}
		}
		off = end
	}
	// The file's size is RAM's even when its last page is a hole.
	if last := len(m.mem) - 1; last >= 0 {
		if _, err := f.WriteAt(m.mem[last:], int64(last)); err != nil {
			return err
		}
	}
	return nil
}
