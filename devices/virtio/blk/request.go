package blk

import (
	"encoding/binary"
	"errors"

	"github.com/gokvm/gokvm/devices/virtio"
)

// handle performs one request and returns how many bytes it wrote into the
// chain, status byte included. It returns ok false, the request unfinished,
// when stop closed in the middle of a long transfer: a long read or write
// moves in chunks, and stop is checked between them.
func (b *Block) handle(c *virtio.Chain, stop <-chan struct{}) (written uint32, ok bool) {
	// Layout: readable buffers (header, then data for writes), writable
	// buffers (data for reads), the last writable byte is the status.
	nRead := 0
	for nRead < len(c.Buffers) && !c.Buffers[nRead].Writable {
		nRead++
	}
	for _, buf := range c.Buffers[nRead:] {
		if !buf.Writable {
			b.logOnce("order", "a request has a readable buffer after a writable one; failing it")
			return b.finish(c, nRead, blkSIOErr, 0), true
		}
	}
	last := len(c.Buffers) - 1
	if nRead > last || len(c.Buffers[last].Data) == 0 {
		b.logOnce("nostatus", "a request has no status byte; dropping it")
		return 0, true
	}
	var hdr [16]byte
	if n := gather(hdr[:], c.Buffers[:nRead]); n < len(hdr) {
		b.logOnce("header", "a request header is %d bytes, want 16", n)
		return b.finish(c, nRead, blkSIOErr, 0), true
	}
	typ := binary.LittleEndian.Uint32(hdr[0:])
	sector := binary.LittleEndian.Uint64(hdr[8:])
	status, n := byte(blkSOK), 0
	switch typ {
	case blkTIn, blkTOut:
		b.iov.Reset()
		if typ == blkTIn {
			addWritableData(&b.iov, c.Buffers[nRead:])
		} else {
			addAfter(&b.iov, c.Buffers[:nRead], len(hdr))
		}
		if status, ok = b.readWrite(typ == blkTOut, sector, stop); !ok {
			return 0, false
		}
		if typ == blkTIn && status == blkSOK {
			n = b.iov.Total()
		}
	case blkTFlush:
		if err := b.disk.Flush(); err != nil {
			b.logOnce("flush", "flush failed: %v", err)
			status = blkSIOErr
		}
	case blkTGetID:
		var id [blkIDBytes]byte
		copy(id[:], b.disk.opts.Serial)
		n = scatter(c.Buffers[nRead:], id[:], true)
	case blkTDiscard, blkTWriteZeroes:
		if status, ok = b.discard(c.Buffers[:nRead], typ == blkTWriteZeroes, stop); !ok {
			return 0, false
		}
	default:
		status = blkSUnsupp
	}
	return b.finish(c, nRead, status, n), true
}

// finish writes the status into the last byte of the chain.
func (b *Block) finish(c *virtio.Chain, nRead int, status byte, written int) uint32 {
	last := c.Buffers[len(c.Buffers)-1]
	if !last.Writable || len(last.Data) == 0 {
		return 0
	}
	last.Data[len(last.Data)-1] = status
	return uint32(written + 1)
}

// readWrite moves the data of b.iov between the guest and the disk. ok
// false: stop closed before it was done.
func (b *Block) readWrite(write bool, sector uint64, stop <-chan struct{}) (status byte, ok bool) {
	if !b.withinLimits() {
		return blkSIOErr, true
	}
	n := uint64(b.iov.Total())
	if n%SectorSize != 0 {
		b.logOnce("partial", "a request of %d bytes is not whole sectors", n)
		return blkSIOErr, true
	}
	if sector > b.disk.Sectors() || n/SectorSize > b.disk.Sectors()-sector {
		b.logOnce("range", "a request for sectors %d+%d is past the disk's %d", sector, n/SectorSize, b.disk.Sectors())
		return blkSIOErr, true
	}
	if write && b.disk.opts.ReadOnly {
		return blkSIOErr, true
	}
	fd := b.disk.fd
	if b.disk.directFd >= 0 && b.iov.Aligned(SectorSize) {
		fd = b.disk.directFd
		b.disk.directIOs.Add(1)
	}
	if err := b.iov.Transfer(fd, int64(sector*SectorSize), write, stop); err != nil {
		if errors.Is(err, virtio.ErrStopped) {
			return 0, false
		}
		b.logOnce("io", "host I/O error at sector %d: %v", sector, err)
		return blkSIOErr, true
	}
	return blkSOK, true
}

// discard handles DISCARD and WRITE_ZEROES: a list of 16-byte segments
// {sector, num_sectors, flags} in the readable data. ok false: stop closed
// between segments, or while zeros were being written.
func (b *Block) discard(readable []virtio.Buffer, zeroes bool, stop <-chan struct{}) (status byte, ok bool) {
	if b.disk.opts.ReadOnly {
		return blkSIOErr, true
	}
	var seg [16]byte
	for i := 0; ; i++ {
		select {
		case <-stop:
			return 0, false
		default:
		}
		n := gatherAt(seg[:], readable, 16+16*i)
		if n == 0 {
			return blkSOK, true
		}
		if n < len(seg) || i >= blkMaxDiscSegs {
			return blkSIOErr, true
		}
		sector := binary.LittleEndian.Uint64(seg[0:])
		num := uint64(binary.LittleEndian.Uint32(seg[8:]))
		flags := binary.LittleEndian.Uint32(seg[12:])
		if num > blkMaxDiscard || sector > b.disk.Sectors() || num > b.disk.Sectors()-sector {
			return blkSIOErr, true
		}
		off, length := int64(sector*SectorSize), int64(num*SectorSize)
		var err error
		switch {
		case !zeroes:
			if flags != 0 {
				return blkSUnsupp, true
			}
			err = b.disk.punch(off, length)
		case flags&blkWriteZeroesUnmap != 0:
			err = b.disk.punch(off, length)
		default:
			if b.zero == nil {
				b.zero = make([]byte, 64<<10)
			}
			err = b.disk.zero(off, length, b.zero, stop)
		}
		if errors.Is(err, virtio.ErrStopped) {
			return 0, false
		}
		if err != nil {
			b.logOnce("discard", "discard/write-zeroes at sector %d: %v", sector, err)
			return blkSIOErr, true
		}
	}
}
