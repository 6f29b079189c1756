package virtio

import (
	"encoding/binary"
	"fmt"
	"log"
	"sync"
)

// virtio-blk feature bits (virtio 1.2, 5.2.3).
const (
	blkFSizeMax     = 1
	blkFSegMax      = 2
	blkFRO          = 5
	blkFBlkSize     = 6
	blkFFlush       = 9
	blkFDiscard     = 13
	blkFWriteZeroes = 14
)

// Request types and status values.
const (
	blkTIn          = 0
	blkTOut         = 1
	blkTFlush       = 4
	blkTGetID       = 8
	blkTDiscard     = 11
	blkTWriteZeroes = 13

	blkSOK     = 0
	blkSIOErr  = 1
	blkSUnsupp = 2

	blkIDBytes          = 20
	blkWriteZeroesUnmap = 1
)

// Limits the device advertises.
const (
	blkQueueSize   = MaxQueueSize
	blkSegMax      = blkQueueSize - 2 // less header and status
	blkSizeMax     = 1 << 20
	blkMaxDiscard  = 1 << 22 // sectors per discard or write-zeroes segment
	blkMaxDiscSegs = 32
)

// Block is a virtio-blk device over a Disk.
type Block struct {
	disk *Disk
	log  *log.Logger
	cfg  [60]byte

	stop chan struct{}
	done chan struct{}

	// Per-request state, reused: the worker allocates nothing per request.
	chain Chain
	iov   iovecs
	zero  []byte

	mu     sync.Mutex
	logged map[string]bool
}

// NewBlock makes a block device for an open disk.
func NewBlock(disk *Disk, logger *log.Logger) *Block {
	b := &Block{disk: disk, log: logger, logged: map[string]bool{}}
	le := binary.LittleEndian
	le.PutUint64(b.cfg[0:], disk.Sectors())
	le.PutUint32(b.cfg[8:], blkSizeMax)
	le.PutUint32(b.cfg[12:], blkSegMax)
	le.PutUint32(b.cfg[20:], SectorSize)
	le.PutUint16(b.cfg[34:], 1) // num_queues
	le.PutUint32(b.cfg[36:], blkMaxDiscard)
	le.PutUint32(b.cfg[40:], blkMaxDiscSegs)
	le.PutUint32(b.cfg[44:], 1)
	le.PutUint32(b.cfg[48:], blkMaxDiscard)
	le.PutUint32(b.cfg[52:], blkMaxDiscSegs)
	b.cfg[56] = 1 // write_zeroes_may_unmap
	return b
}

// DeviceID implements Device.
func (b *Block) DeviceID() uint32 { return DeviceIDBlock }

// Features implements Device.
func (b *Block) Features() uint64 {
	f := uint64(1)<<FeatureIndirectDesc | 1<<FeatureEventIdx |
		1<<blkFSizeMax | 1<<blkFSegMax | 1<<blkFBlkSize | 1<<blkFFlush
	if b.disk.opts.ReadOnly {
		f |= 1 << blkFRO
	} else {
		f |= 1<<blkFDiscard | 1<<blkFWriteZeroes
	}
	return f
}

// QueueMaxSizes implements Device: one request queue.
func (b *Block) QueueMaxSizes() []uint16 { return []uint16{blkQueueSize} }

// ReadConfig implements Device.
func (b *Block) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(b.cfg)) {
		copy(data, b.cfg[off:])
	}
}

// WriteConfig implements Device: nothing in the config is writable.
func (b *Block) WriteConfig(uint64, []byte) {}

// Activate implements Device.
func (b *Block) Activate(env ActivateEnv) error {
	if !env.Queues[0].Ready {
		return fmt.Errorf("the request queue is not set up")
	}
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go b.worker(env)
	return nil
}

// Reset implements Device.
func (b *Block) Reset() {
	if b.stop == nil {
		return
	}
	close(b.stop)
	<-b.done
	b.stop, b.done = nil, nil
}

// Close stops the device and flushes and closes its disk.
func (b *Block) Close() error {
	b.Reset()
	return b.disk.Close()
}

func (b *Block) worker(env ActivateEnv) {
	defer close(b.done)
	q, kick := env.Queues[0], env.Kicks[0]
	for {
		select {
		case <-b.stop:
			return
		case <-kick:
		}
		for {
			for {
				ok, err := q.Pop(&b.chain)
				if err != nil {
					env.Fail(fmt.Errorf("request queue: %w", err))
					return
				}
				if !ok {
					break
				}
				q.Push(b.chain.Head, b.handle(&b.chain))
			}
			if !q.EnableNotifications() {
				break
			}
		}
		if q.ShouldInterrupt() {
			env.Interrupt()
		}
	}
}

// logOnce reports a kind of guest error the first time it happens.
func (b *Block) logOnce(kind, format string, args ...any) {
	b.mu.Lock()
	seen := b.logged[kind]
	b.logged[kind] = true
	b.mu.Unlock()
	if !seen && b.log != nil {
		b.log.Printf("disk %s: "+format, append([]any{b.disk.opts.Path}, args...)...)
	}
}

// handle performs one request and returns how many bytes it wrote into the
// chain, status byte included.
func (b *Block) handle(c *Chain) uint32 {
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
		b.iov.reset()
		if typ == blkTIn {
			addWritableData(&b.iov, c.Buffers[nRead:])
		} else {
			addAfter(&b.iov, c.Buffers[:nRead], len(hdr))
		}
		status = b.readWrite(typ == blkTOut, sector)
		if typ == blkTIn && status == blkSOK {
			written = b.iov.total()
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
func (b *Block) finish(c *Chain, nRead int, status byte, written int) uint32 {
	last := c.Buffers[len(c.Buffers)-1]
	if !last.Writable || len(last.Data) == 0 {
		return 0
	}
	last.Data[len(last.Data)-1] = status
	return uint32(written + 1)
}

func (b *Block) readWrite(write bool, sector uint64) byte {
	n := uint64(b.iov.total())
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
	if b.disk.directFd >= 0 && b.iov.aligned(SectorSize) {
		fd = b.disk.directFd
		b.disk.directIOs.Add(1)
	}
	if err := b.iov.transfer(fd, int64(sector*SectorSize), write); err != nil {
		b.logOnce("io", "host I/O error at sector %d: %v", sector, err)
		return blkSIOErr
	}
	return blkSOK
}

// discard handles DISCARD and WRITE_ZEROES: a list of 16-byte segments
// {sector, num_sectors, flags} in the readable data.
func (b *Block) discard(readable []Buffer, zeroes bool) byte {
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

// gather copies the start of the buffers' bytes into dst.
func gather(dst []byte, bufs []Buffer) int { return gatherAt(dst, bufs, 0) }

// gatherAt copies bytes from offset skip of the buffers' concatenation.
func gatherAt(dst []byte, bufs []Buffer, skip int) int {
	n := 0
	for _, buf := range bufs {
		d := buf.Data
		if skip >= len(d) {
			skip -= len(d)
			continue
		}
		d, skip = d[skip:], 0
		n += copy(dst[n:], d)
		if n == len(dst) {
			break
		}
	}
	return n
}

// scatter copies src into the writable buffers, leaving the final status
// byte alone when keepLast.
func scatter(bufs []Buffer, src []byte, keepLast bool) int {
	n := 0
	for i, buf := range bufs {
		d := buf.Data
		if keepLast && i == len(bufs)-1 {
			d = d[:len(d)-1]
		}
		n += copy(d, src[n:])
	}
	return n
}

// addAfter adds the readable data after the header.
func addAfter(iov *iovecs, bufs []Buffer, skip int) {
	for _, buf := range bufs {
		d := buf.Data
		if skip >= len(d) {
			skip -= len(d)
			continue
		}
		iov.add(d[skip:])
		skip = 0
	}
}

// addWritableData adds the writable buffers less the final status byte.
func addWritableData(iov *iovecs, bufs []Buffer) {
	for i, buf := range bufs {
		d := buf.Data
		if i == len(bufs)-1 {
			d = d[:len(d)-1]
		}
		iov.add(d)
	}
}
