package virtio_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/blk"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm/memory"
)

// FuzzMMIORegisters drives the transport's register window with arbitrary
// accesses over arbitrary guest memory, with a live block device behind it:
// nothing may panic or touch memory outside guest RAM (the race detector
// and Go's bounds checks catch the rest).
func FuzzMMIORegisters(f *testing.F) {
	f.Add([]byte{0x70, 1, 0, 0, 0, 1, 0x70, 3, 0, 0, 0, 1, 0x38, 8, 0, 0, 0, 1, 0x44, 1, 0, 0, 0, 1, 0x70, 0x0f, 0, 0, 0, 1, 0x50, 0, 0, 0, 0, 1}, []byte{1, 2, 3}, false)
	f.Add([]byte{0x28, 0, 16, 0, 0, 1, 0x40, 0x10, 0, 4, 0, 1, 0x70, 7, 0, 0, 0, 1, 0x50, 0, 0, 0, 0, 1}, []byte{0xff}, true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, ops, ram []byte, legacy bool) {
		disk := fuzzDisk(t, dir)
		mem := repeated(ram, 256<<10)
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		tr := virtio.NewMMIO("fuzz", v, blk.New(disk, nil), memory.NewGuestMemoryFromSlice(virtiotest.RAMBase, mem), func() {}, nil)
		defer tr.Close()
		// Each op: offset/4, 4 value bytes, and a byte choosing read or
		// write and the access width.
		for i := 0; i+6 <= len(ops); i += 6 {
			off := uint64(ops[i]) * 4
			width := []int{1, 2, 4, 8}[ops[i+5]>>1&3]
			data := make([]byte, width)
			copy(data, ops[i+1:i+5])
			if ops[i+5]&1 != 0 {
				tr.WriteMMIO(off, data)
			} else {
				tr.ReadMMIO(off, data)
			}
		}
		// Point a legacy queue and a modern one at RAM, go live, kick.
		w := func(off uint64, v uint32) {
			b := make([]byte, 4)
			binary.LittleEndian.PutUint32(b, v)
			tr.WriteMMIO(off, b)
		}
		w(virtio.RegQueueNotify, 0)
		w(virtio.RegStatus, 0)
	})
}

// fuzzDisk is a 64 KiB disk image in dir, open, closed when the test ends.
func fuzzDisk(t *testing.T, dir string) *blk.Disk {
	path := filepath.Join(dir, "fuzz.img")
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	disk, err := blk.OpenDisk(blk.DiskOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return disk
}

// repeated is n bytes of b over and over (zeros for an empty b): guest
// RAM a fuzzer chose.
func repeated(b []byte, n int) []byte {
	mem := make([]byte, n)
	for i := 0; len(b) > 0 && i < n; i += len(b) {
		copy(mem[i:], b)
	}
	return mem
}
