package ninep

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"golang.org/x/sys/unix"
)

// BenchmarkSequentialRead reads a 16 MiB file in 128 KiB Treads (Linux's
// default msize), one request in flight, as a guest's `dd` over a mount
// without a cache does: the device's cost per request and per byte.
func BenchmarkSequentialRead(b *testing.B) {
	const size, chunk = 16 << 20, 128 << 10
	dir := b.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	hostFile(b, dir, "big", data)
	c := newClient(b, dir, false)
	c.attach(1)
	if r := c.walk(1, 2, "big"); r.typ != tWalk+1 {
		b.Fatalf("walk: type %d", r.typ)
	}
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	req := c.d.Buf(nil, 64)
	out := c.d.Buf(nil, chunk+64)
	segs := []virtiotest.Seg{{GPA: req, N: headerSize + 16}, {GPA: out, N: chunk + 64, Writable: true}}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for off := uint64(0); off < size; off += chunk {
			msg := message(tRead, 7, enc(nil).u32(2).u64(off).u32(chunk))
			if err := c.d.Mem.Write(req, msg); err != nil {
				b.Fatal(err)
			}
			c.d.Submit(segs, false)
			c.d.Kick()
			for c.d.Pending() < 1 { // Wait sleeps 1 ms a poll: too coarse here
				runtime.Gosched()
			}
			u := c.d.Wait(1)[0]
			if u.Len != headerSize+4+chunk {
				b.Fatalf("Rread of %d bytes, want %d", u.Len, headerSize+4+chunk)
			}
		}
	}
	b.StopTimer()
	var hdr [headerSize + 4]byte
	c.d.Mem.Read(out, hdr[:])
	if n := binary.LittleEndian.Uint32(hdr[headerSize:]); n != chunk {
		b.Fatalf("last Rread count %d", n)
	}
}

// BenchmarkGetattr is one small round trip (a Tgetattr, what stat(2) on
// a mount without a cache sends): the device's latency per request,
// which the hand-offs between its goroutines set.
func BenchmarkGetattr(b *testing.B) {
	dir := b.TempDir()
	hostFile(b, dir, "f", []byte("x"))
	c := newClient(b, dir, false)
	c.attach(1)
	if r := c.walk(1, 2, "f"); r.typ != tWalk+1 {
		b.Fatalf("walk: type %d", r.typ)
	}
	req := c.d.Buf(message(tGetattr, 9, enc(nil).u32(2).u64(0x3fff)), 0)
	out := c.d.Buf(nil, 256)
	segs := []virtiotest.Seg{{GPA: req, N: headerSize + 12}, {GPA: out, N: 256, Writable: true}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.d.Submit(segs, false)
		c.d.Kick()
		for c.d.Pending() < 1 {
			runtime.Gosched()
		}
		if u := c.d.Wait(1)[0]; u.Len < headerSize+8 {
			b.Fatalf("Rgetattr of %d bytes", u.Len)
		}
	}
	b.StopTimer()
	var hdr [headerSize]byte
	c.d.Mem.Read(out, hdr[:])
	if hdr[4] != tGetattr+1 {
		b.Fatalf("answer type %d", hdr[4])
	}
}
