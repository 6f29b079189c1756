package net

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gokvm/gokvm/devices/virtio"
)

// fakeIO is a PacketIO in memory: the test puts the network's frames in
// In (as a tap's queue holds them), and reads what the device sent with
// Sent. It records how the device set the backend up.
type fakeIO struct {
	In    chan []byte
	reads atomic.Int32 // frames the device read

	mu      sync.Mutex
	sent    [][]byte
	hdrLens []int
	offload []uint
	intr    chan struct{} // closed by Interrupt until Resume
	closed  bool
}

var _ PacketIO = (*fakeIO)(nil)

func newFakeIO() *fakeIO { return &fakeIO{In: make(chan []byte, 64), intr: make(chan struct{})} }

func (f *fakeIO) ReadPacket(buf []byte) (int, error) {
	f.mu.Lock()
	intr := f.intr
	f.mu.Unlock()
	select {
	case fr := <-f.In:
		f.reads.Add(1)
		return copy(buf, fr), nil
	case <-intr:
		return 0, os.ErrDeadlineExceeded
	}
}

func (f *fakeIO) WritePacket(iov *virtio.IOVecs) error {
	var fr []byte
	for _, v := range iov.Segments() {
		fr = append(fr, unsafe.Slice(v.Base, v.Len)...)
	}
	f.mu.Lock()
	f.sent = append(f.sent, fr)
	f.mu.Unlock()
	return nil
}

func (f *fakeIO) SetOffload(flags uint) error {
	f.mu.Lock()
	f.offload = append(f.offload, flags)
	f.mu.Unlock()
	return nil
}

func (f *fakeIO) SetHeaderSize(n int) error {
	f.mu.Lock()
	f.hdrLens = append(f.hdrLens, n)
	f.mu.Unlock()
	return nil
}

func (f *fakeIO) Interrupt() {
	f.mu.Lock()
	select {
	case <-f.intr:
	default:
		close(f.intr)
	}
	f.mu.Unlock()
}

func (f *fakeIO) Resume() {
	f.mu.Lock()
	select {
	case <-f.intr:
		f.intr = make(chan struct{})
	default:
	}
	f.mu.Unlock()
}

func (f *fakeIO) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// Sent is what the device wrote, in order.
func (f *fakeIO) Sent() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.sent...)
}

// setup is how the device set the backend up: header sizes and offload
// flags, one of each per activation.
func (f *fakeIO) setup() ([]int, []uint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.hdrLens...), append([]uint(nil), f.offload...)
}

// fakeNIC is the MAC of the tests' fake NICs.
var fakeNIC = []byte{0x52, 0x54, 0, 9, 8, 7}

// newFakeNet is a virtio-net device over a fakeIO, closed when the test
// ends.
func newFakeNet(t *testing.T) (*Net, *fakeIO) {
	t.Helper()
	io := newFakeIO()
	n := New("fake-net", io, fakeNIC, nil)
	t.Cleanup(func() { n.Close() })
	return n, io
}
