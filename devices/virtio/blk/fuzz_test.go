package blk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// interleaveSeeds are programs for virtiotest.Interleave: a request
// waited for; DRIVER_OK cleared and QueueNum 0 written mid-request; a
// legacy QueuePFN rewritten while running; resets while paused.
var interleaveSeeds = [][]byte{
	{9, 0, 6, 0, 5},
	{9, 0, 1, 0x1c, 3, 0, 0, 0, 1, 0x0e, 0, 0, 0, 0, 5, 0, 6, 0, 5, 8},
	{9, 0, 1, 0x10, 0x10, 0, 0, 0, 5, 0, 6, 0, 3},
	{10, 9, 0, 8, 10, 0, 3, 0, 9, 1, 6, 0, 4},
	{3, 0, 0, 0, 0, 0, 1, 2, 0, 4, 0, 0, 0, 5, 0, 6, 0, 2},
}

// FuzzBlockInterleaved runs hostile drivers' programs against a block
// device on either transport, its worker running: see
// virtiotest.Interleave. It runs under the race detector in the fuzz step
// (tools/fuzz.sh).
func FuzzBlockInterleaved(f *testing.F) {
	for _, s := range interleaveSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	path := filepath.Join(f.TempDir(), "fuzz.img")
	if err := os.WriteFile(path, make([]byte, 256<<10), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ops []byte, legacy bool) {
		disk, err := OpenDisk(DiskOptions{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		b := New(disk, nil)
		t.Cleanup(func() { b.Close() })
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		d := virtiotest.New(t, v, b)
		virtiotest.Interleave(d, ops, virtiotest.Device{
			Request: func(d *virtiotest.Driver, arg byte) {
				d.SelectQueue(0)
				sector := uint64(arg>>2) % 64
				if arg&1 != 0 {
					submitRequest(d, blkTOut, sector, make([]byte, 512), 0, arg&2 != 0)
				} else {
					submitRequest(d, blkTIn, sector, nil, 1024, arg&2 != 0)
				}
			},
			Works: func(d *virtiotest.Driver) {
				if st, _, _ := request(d, blkTIn, 0, nil, 512, false); st != blkSOK {
					t.Fatalf("a read after a fresh setup: status %d", st)
				}
			},
		})
	})
}
