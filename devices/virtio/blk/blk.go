// Package blk is virtio-blk: a block device over a raw image file (a Disk),
// behind a virtio transport. Reads and writes go straight between the
// image and guest RAM (preadv, pwritev), through O_DIRECT when asked for
// and the guest's buffers allow it.
package blk

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"sync"

	"github.com/gokvm/gokvm/devices/virtio"
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
	blkQueueSize   = virtio.MaxQueueSize
	blkSegMax      = blkQueueSize - 2 // less header and status
	blkSizeMax     = 1 << 20
	blkMaxDiscard  = 1 << 22 // sectors per discard or write-zeroes segment
	blkMaxDiscSegs = 32
)

var (
	_ virtio.Device = (*Block)(nil)
	_ io.Closer     = (*Block)(nil)
)

// Block is a virtio-blk device over a Disk, which it owns: Close closes
// the disk.
type Block struct {
	disk *Disk
	log  *log.Logger
	cfg  [60]byte

	// run serialises Activate, Reset and Close, which any number of
	// vcpus (and the machine) may call at once.
	run    sync.Mutex
	stop   chan struct{} // closed to stop the worker; nil when stopped
	done   chan struct{} // closed when the worker has returned
	closed bool

	closeOnce sync.Once
	closeErr  error

	// Per-request state, reused: the worker allocates nothing per request.
	iov  virtio.IOVecs
	zero []byte

	mu     sync.Mutex
	logged map[string]bool
}

// New makes a block device for an open disk; the device owns the disk
// from then on.
func New(disk *Disk, logger *log.Logger) *Block {
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

// DeviceID implements virtio.Device.
func (b *Block) DeviceID() uint32 { return virtio.DeviceIDBlock }

// Features implements virtio.Device.
func (b *Block) Features() uint64 {
	f := uint64(1)<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx |
		1<<blkFSizeMax | 1<<blkFSegMax | 1<<blkFBlkSize | 1<<blkFFlush
	if b.disk.opts.ReadOnly {
		f |= 1 << blkFRO
	} else {
		f |= 1<<blkFDiscard | 1<<blkFWriteZeroes
	}
	return f
}

// QueueMaxSizes implements virtio.Device: one request queue.
func (b *Block) QueueMaxSizes() []uint16 { return []uint16{blkQueueSize} }

// ReadConfig implements virtio.Device.
func (b *Block) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(b.cfg)) {
		copy(data, b.cfg[off:])
	}
}

// WriteConfig implements virtio.Device: nothing in the config is writable.
func (b *Block) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device.
func (b *Block) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[0].Ready {
		return fmt.Errorf("the request queue is not set up")
	}
	b.run.Lock()
	defer b.run.Unlock()
	switch {
	case b.closed:
		return fmt.Errorf("disk %s: %w", b.disk.opts.Path, errClosed)
	case b.stop != nil:
		return fmt.Errorf("disk %s: activated twice", b.disk.opts.Path)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	b.stop, b.done = stop, done
	go func() {
		defer close(done)
		virtio.ServeQueue(env, 0, "request queue", stop, func(c *virtio.Chain) (uint32, bool) {
			return b.handle(c, stop)
		})
	}()
	return nil
}

// Reset implements virtio.Device: it stops the worker between requests,
// or within a long one, and waits for it.
func (b *Block) Reset() {
	b.run.Lock()
	defer b.run.Unlock()
	b.stopLocked()
}

func (b *Block) stopLocked() {
	if b.stop == nil {
		return
	}
	close(b.stop)
	<-b.done
	b.stop, b.done = nil, nil
}

// Close stops the device and flushes and closes its disk. Every call
// returns the first one's result, once it is done.
func (b *Block) Close() error {
	b.run.Lock()
	b.stopLocked()
	b.closed = true
	b.run.Unlock()
	b.closeOnce.Do(func() { b.closeErr = b.disk.Close() })
	return b.closeErr
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
