package blk

import "golang.org/x/sys/unix"

// withinLimits checks a read's or write's data segments (b.iov) against
// what the device advertises, SEG_MAX and SIZE_MAX: the driver must not
// exceed them (virtio 1.2, 5.2.6.1), and a request that does fails with
// IOERR before any I/O. Together they bound one request's I/O, and so how
// long it holds up a stop between its chunks.
func (b *Block) withinLimits() bool {
	segs := b.iov.Segments()
	if len(segs) > blkSegMax {
		b.logOnce("segmax", "a request has %d data segments, more than seg_max %d; failing it", len(segs), blkSegMax)
		return false
	}
	for _, s := range segs {
		if segLen(s) > blkSizeMax {
			b.logOnce("sizemax", "a request has a %d-byte segment, more than size_max %d; failing it", segLen(s), blkSizeMax)
			return false
		}
	}
	return true
}

func segLen(s unix.Iovec) uint64 { return uint64(s.Len) }
