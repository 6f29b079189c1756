package blk

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// largestRequest makes a read as large as the device allows available:
// seg_max data segments of size_max bytes each (all the same guest
// buffer), through an indirect table.
func largestRequest(d *virtiotest.Driver, data uint64) (st uint64) {
	segs := []virtiotest.Seg{{GPA: d.Buf(blkHeader(blkTIn, 0), 0), N: 16}}
	for range blkSegMax {
		segs = append(segs, virtiotest.Seg{GPA: data, N: blkSizeMax, Writable: true})
	}
	st = d.Buf([]byte{0xff}, 0)
	segs = append(segs, virtiotest.Seg{GPA: st, N: 1, Writable: true})
	d.Submit(segs, true)
	return st
}

// TestBlockStopIsPrompt: a reset with a full ring of the largest legal
// requests (each 254 MiB) returns within a chunk of I/O, not once the
// ring is served.
func TestBlockStopIsPrompt(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sparse.img")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, blkSegMax*blkSizeMax); err != nil {
				t.Fatal(err)
			}
			disk, err := OpenDisk(DiskOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			b := New(disk, nil)
			d := virtiotest.New(t, v, b)
			t.Cleanup(func() { d.Close(); b.Close() })
			d.Setup(virtio.MaxQueueSize, 0)
			data := d.Buf(nil, blkSizeMax)
			var first uint64
			for i := range virtio.MaxQueueSize {
				if st := largestRequest(d, data); i == 0 {
					first = st
				}
			}
			d.Kick()
			// The largest legal request is served, and the device is
			// well into the ring.
			d.Wait(1)
			if s := status(d, first); s != blkSOK {
				t.Fatalf("the largest legal request: status %d", s)
			}
			start := time.Now()
			d.Write32(virtio.RegStatus, 0)
			took := time.Since(start)
			t.Logf("v%d: a reset with %d requests of %d MiB queued took %v (%d served)", v, virtio.MaxQueueSize, blkSegMax*blkSizeMax>>20, took, d.UsedIdx())
			if took > 2*time.Second {
				t.Errorf("the reset took %v", took)
			}
			if d.UsedIdx() == virtio.MaxQueueSize {
				t.Errorf("the reset waited for every request in the ring")
			}
		})
	}
}

// TestBlockSegMaxSizeMax: a read or write with more data segments than
// seg_max, or a segment larger than size_max, fails with IOERR and
// touches neither the disk nor guest memory; at the limits it works.
func TestBlockSegMaxSizeMax(t *testing.T) {
	path := tempImage(t, 2<<20, 0x5a)
	d, _ := newBlockDriver(t, DiskOptions{Path: path}, virtio.Modern, 0)
	data := d.Buf(nil, blkSizeMax+512)
	for _, tc := range []struct {
		name string
		typ  uint32
		segs int
		size uint32
		want byte
	}{
		{"read of seg_max segments", blkTIn, blkSegMax, 512, blkSOK},
		{"read of seg_max+1 segments", blkTIn, blkSegMax + 1, 512, blkSIOErr},
		{"write of seg_max+1 segments", blkTOut, blkSegMax + 1, 512, blkSIOErr},
		{"read of a size_max segment", blkTIn, 1, blkSizeMax, blkSOK},
		{"read of a segment past size_max", blkTIn, 1, blkSizeMax + 512, blkSIOErr},
		{"write of a segment past size_max", blkTOut, 1, blkSizeMax + 512, blkSIOErr},
	} {
		d.Mem.Write(data, make([]byte, tc.size))
		segs := []virtiotest.Seg{{GPA: d.Buf(blkHeader(tc.typ, 0), 0), N: 16}}
		for range tc.segs {
			segs = append(segs, virtiotest.Seg{GPA: data, N: tc.size, Writable: tc.typ == blkTIn})
		}
		st := d.Buf([]byte{0xff}, 0)
		segs = append(segs, virtiotest.Seg{GPA: st, N: 1, Writable: true})
		d.Submit(segs, true)
		d.Kick()
		u := d.Wait(1)
		if s := status(d, st); s != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, s, tc.want)
		}
		if tc.want == blkSIOErr {
			if u[0].Len != 1 {
				t.Errorf("%s: used length %d, want the status byte only", tc.name, u[0].Len)
			}
			got := make([]byte, tc.size)
			d.Mem.Read(data, got)
			for _, c := range got {
				if c != 0 {
					t.Errorf("%s: a failed read wrote guest memory", tc.name)
					break
				}
			}
		}
	}
	if file, _ := os.ReadFile(path); file[0] != 0x5a || file[blkSizeMax] != 0x5a {
		t.Errorf("a failed write reached the disk")
	}
}

// TestBlockConcurrentResetsAndClose: the device's Reset and Close, from
// any number of goroutines at once and against each other, alongside the
// transport's resets and Close, neither panic nor hang; the disk is closed
// once.
func TestBlockConcurrentResetsAndClose(t *testing.T) {
	path := tempImage(t, 64<<10, 0)
	disk, err := OpenDisk(DiskOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	b := New(disk, nil)
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-blk0", virtio.Modern, b), nil)
	run := func(fns ...func()) {
		t.Helper()
		virtiotest.Concurrently(t, 5*time.Second, fns...)
	}
	resetReg := func() { d.Write32(virtio.RegStatus, 0) }
	for range 10 {
		d.Setup(16, 0)
		for range 4 {
			submitRequest(d, blkTIn, 0, nil, 4096, false)
		}
		d.Kick()
		run(b.Reset, b.Reset, b.Reset, resetReg, resetReg, resetReg)
		d.FreeBufs()
	}
	d.Setup(16, 0)
	submitRequest(d, blkTIn, 0, nil, 4096, false)
	d.Kick()
	closeDev := func() { b.Close() }
	closeSpec := func() { d.Close() }
	run(closeDev, closeDev, closeSpec, closeSpec, b.Reset, resetReg, resetReg)
	if disk.f != nil {
		t.Errorf("the disk is still open")
	}
}
