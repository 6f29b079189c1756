package blk

import (
	"encoding/binary"

	"github.com/gokvm/gokvm/devices/virtio"
)

// handle performs one request and returns how many bytes it wrote into the
// chain, status byte included.
func (b *Block) handle(c *virtio.Chain) uint32 {
	// Layout: readable buffers (header, then data for writes), writable
	// buffers (data for reads), the last writable byte is the status.
	nRead := 0
	for nRead < len(c.Buffers) && !c.Buffers[nRead].Writable {
		nRead++
	}
	for _, buf := range c.Buffers[nRead:] {
		if !buf.Writable {
			b.logOnce("order", "a request has a readable buffer after a writable one; failing it")
			return b.finish(c, nRead, blkSIOErr, 0)
		}
	}
	last := len(c.Buffers) - 1
	if nRead > last || len(c.Buffers[last].Data) == 0 {
		b.logOnce("nostatus", "a request has no status byte; dropping it")
		return 0
	}
	var hdr [16]byte
	if n := gather(hdr[:], c.Buffers[:nRead]); n < len(hdr) {
		b.logOnce("header", "a request header is %d bytes, want 16", n)
		return b.finish(c, nRead, blkSIOErr, 0)
	}
	typ := binary.LittleEndian.Uint32(hdr[0:])
	sector := binary.LittleEndian.Uint64(hdr[8:])
	status, written := byte(blkSOK), 0
	switch typ {
	case blkTIn, blkTOut:
		b.iov.Reset()
		if typ == blkTIn {
			addWritableData(&b.iov, c.Buffers[nRead:])
		} else {
			addAfter(&b.iov, c.Buffers[:nRead], len(hdr))
		}
		status = b.readWrite(typ == blkTOut, sector)
		if typ == blkTIn && status == blkSOK {
			written = b.iov.Total()
		}
	case blkTFlush:
		if err := b.disk.Flush(); err != nil {
			b.logOnce("flush", "flush failed: %v", err)
			status = blkSIOErr
		}
	case blkTGetID:
		var id [blkIDBytes]byte
		copy(id[:], b.disk.opts.Serial)
		written = scatter(c.Buffers[nRead:], id[:], true)
	case blkTDiscard, blkTWriteZeroes:
		status = b.discard(c.Buffers[:nRead], typ == blkTWriteZeroes)
	default:
		status = blkSUnsupp
	}
	return b.finish(c, nRead, status, written)
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

func (b *Block) readWrite(write bool, sector uint64) byte {
	n := uint64(b.iov.Total())
	if n%SectorSize != 0 {
		b.logOnce("partial", "a request of %d bytes is not whole sectors", n)
		return blkSIOErr
	}
	if sector > b.disk.Sectors() || n/SectorSize > b.disk.Sectors()-sector {
		b.logOnce("range", "a request for sectors %d+%d is past the disk's %d", sector, n/SectorSize, b.disk.Sectors())
		return blkSIOErr
	}
	if write && b.disk.opts.ReadOnly {
		return blkSIOErr
	}
	fd := b.disk.fd
	if b.disk.directFd >= 0 && b.iov.Aligned(SectorSize) {
		fd = b.disk.directFd
		b.disk.directIOs.Add(1)
	}
	if err := b.iov.Transfer(fd, int64(sector*SectorSize), write); err != nil {
		b.logOnce("io", "host I/O error at sector %d: %v", sector, err)
		return blkSIOErr
	}
	return blkSOK
}

// discard handles DISCARD and WRITE_ZEROES: a list of 16-byte segments
// {sector, num_sectors, flags} in the readable data.
func (b *Block) discard(readable []virtio.Buffer, zeroes bool) byte {
	if b.disk.opts.ReadOnly {
		return blkSIOErr
	}
	var seg [16]byte
	for i := 0; ; i++ {
		n := gatherAt(seg[:], readable, 16+16*i)
		if n == 0 {
			return blkSOK
		}
		if n < len(seg) || i >= blkMaxDiscSegs {
			return blkSIOErr
		}
		sector := binary.LittleEndian.Uint64(seg[0:])
		num := uint64(binary.LittleEndian.Uint32(seg[8:]))
		flags := binary.LittleEndian.Uint32(seg[12:])
		if num > blkMaxDiscard || sector > b.disk.Sectors() || num > b.disk.Sectors()-sector {
			return blkSIOErr
		}
		off, length := int64(sector*SectorSize), int64(num*SectorSize)
		var err error
		switch {
		case !zeroes:
			if flags != 0 {
				return blkSUnsupp
			}
			err = b.disk.punch(off, length)
		case flags&blkWriteZeroesUnmap != 0:
			err = b.disk.punch(off, length)
		default:
			if b.zero == nil {
				b.zero = make([]byte, 64<<10)
			}
			err = b.disk.zero(off, length, b.zero)
		}
		if err != nil {
			b.logOnce("discard", "discard/write-zeroes at sector %d: %v", sector, err)
			return blkSIOErr
		}
	}
}
