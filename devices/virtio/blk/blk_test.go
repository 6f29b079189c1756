package blk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

func tempImage(t *testing.T, size int, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, bytes.Repeat([]byte{fill}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newBlockDriver(t *testing.T, opts DiskOptions, version virtio.TransportVersion, drop uint64) (*virtiotest.Driver, *Block) {
	t.Helper()
	disk, err := OpenDisk(opts)
	if err != nil {
		t.Fatal(err)
	}
	b := New(disk, nil)
	d := virtiotest.New(t, version, b)
	t.Cleanup(func() { d.Close(); b.Close() })
	d.Setup(16, drop)
	return d, b
}

func blkHeader(typ uint32, sector uint64) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

// submitRequest makes header, data and a status byte available and
// returns where the status and the data read go.
func submitRequest(d *virtiotest.Driver, typ uint32, sector uint64, out []byte, in int, indirect bool) (st, inGPA uint64) {
	segs := []virtiotest.Seg{{GPA: d.Buf(blkHeader(typ, sector), 0), N: 16}}
	if out != nil {
		segs = append(segs, virtiotest.Seg{GPA: d.Buf(out, 0), N: uint32(len(out))})
	}
	if in > 0 {
		inGPA = d.Buf(nil, in)
		segs = append(segs, virtiotest.Seg{GPA: inGPA, N: uint32(in), Writable: true})
	}
	st = d.Buf([]byte{0xff}, 0)
	segs = append(segs, virtiotest.Seg{GPA: st, N: 1, Writable: true})
	d.Submit(segs, indirect)
	return st, inGPA
}

// request submits header, data and a status byte, kicks, and returns the
// status, the used length and where the data read went.
func request(d *virtiotest.Driver, typ uint32, sector uint64, out []byte, in int, indirect bool) (byte, uint32, uint64) {
	st, inGPA := submitRequest(d, typ, sector, out, in, indirect)
	d.Kick()
	u := d.Wait(1)
	return status(d, st), u[0].Len, inGPA
}

// status reads a request's status byte.
func status(d *virtiotest.Driver, st uint64) byte {
	s := make([]byte, 1)
	d.Mem.Read(st, s)
	return s[0]
}

func TestBlockReadWriteFlush(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		for _, indirect := range []bool{false, true} {
			path := tempImage(t, 64<<10, 0xaa)
			d, _ := newBlockDriver(t, DiskOptions{Path: path}, v, 0)
			data := bytes.Repeat([]byte("gokvm!!\n"), 128) // 1 KiB
			if st, n, _ := request(d, blkTOut, 4, data, 0, indirect); st != blkSOK || n != 1 {
				t.Fatalf("v%d indirect=%v: write status %d len %d", v, indirect, st, n)
			}
			if st, _, _ := request(d, blkTFlush, 0, nil, 0, indirect); st != blkSOK {
				t.Fatalf("flush status %d", st)
			}
			st, n, gpa := request(d, blkTIn, 4, nil, 1024, indirect)
			got := make([]byte, 1024)
			d.Mem.Read(gpa, got)
			if st != blkSOK || n != 1025 || !bytes.Equal(got, data) {
				t.Fatalf("read back status %d len %d, data equal %v", st, n, bytes.Equal(got, data))
			}
			file, _ := os.ReadFile(path)
			if !bytes.Equal(file[4*512:4*512+1024], data) || file[4*512-1] != 0xaa || file[4*512+1024] != 0xaa {
				t.Errorf("the file does not hold exactly the guest's write")
			}
		}
	}
}

func TestBlockGetIDAndConfig(t *testing.T) {
	path := tempImage(t, 1<<20+100, 0)
	d, _ := newBlockDriver(t, DiskOptions{Path: path, Serial: "serial-42"}, virtio.Modern, 0)
	st, n, gpa := request(d, blkTGetID, 0, nil, 20, false)
	id := make([]byte, 20)
	d.Mem.Read(gpa, id)
	if st != blkSOK || n != 21 || string(bytes.TrimRight(id, "\x00")) != "serial-42" {
		t.Errorf("GET_ID: status %d len %d id %q", st, n, id)
	}
	// Capacity: whole sectors only.
	capacity := uint64(d.Read32(virtio.RegConfig)) | uint64(d.Read32(virtio.RegConfig+4))<<32
	if capacity != (1<<20)/512 {
		t.Errorf("capacity %d sectors, want %d (the partial sector hidden)", capacity, (1<<20)/512)
	}
	if bs := d.Read32(virtio.RegConfig + 20); bs != 512 {
		t.Errorf("blk_size %d", bs)
	}
}

func TestBlockReadOnly(t *testing.T) {
	path := tempImage(t, 64<<10, 0x11)
	d, b := newBlockDriver(t, DiskOptions{Path: path, ReadOnly: true}, virtio.Modern, 0)
	if b.Features()&(1<<blkFRO) == 0 || b.Features()&(1<<blkFDiscard) != 0 {
		t.Errorf("a read-only disk must offer RO and no discard: %#x", b.Features())
	}
	if st, _, _ := request(d, blkTOut, 0, make([]byte, 512), 0, false); st != blkSIOErr {
		t.Errorf("write to a read-only disk: status %d, want IOERR", st)
	}
	discard := make([]byte, 16)
	binary.LittleEndian.PutUint32(discard[8:], 8)
	if st, _, _ := request(d, blkTDiscard, 0, discard, 0, false); st != blkSIOErr {
		t.Errorf("discard on a read-only disk: status %d", st)
	}
	if file, _ := os.ReadFile(path); !bytes.Equal(file, bytes.Repeat([]byte{0x11}, 64<<10)) {
		t.Errorf("the read-only image changed")
	}
}

func TestBlockBadRequestsFailAlone(t *testing.T) {
	path := tempImage(t, 64<<10, 0)
	d, _ := newBlockDriver(t, DiskOptions{Path: path}, virtio.Modern, 0)
	for _, tc := range []struct {
		name   string
		typ    uint32
		sector uint64
		out    []byte
		in     int
		want   byte
	}{
		{"read past the end", blkTIn, 127, nil, 1024, blkSIOErr},
		{"write past the end", blkTOut, 1 << 40, make([]byte, 512), 0, blkSIOErr},
		{"huge sector wraps", blkTIn, ^uint64(0), nil, 512, blkSIOErr},
		{"partial sector", blkTOut, 0, make([]byte, 100), 0, blkSIOErr},
		{"unknown type", 99, 0, nil, 0, blkSUnsupp},
	} {
		if st, _, _ := request(d, tc.typ, tc.sector, tc.out, tc.in, false); st != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.want)
		}
	}
	// A short header fails that request only.
	st := d.Buf([]byte{0xff}, 0)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(make([]byte, 8), 0), N: 8}, {GPA: st, N: 1, Writable: true}}, false)
	d.Kick()
	d.Wait(1)
	s := make([]byte, 1)
	d.Mem.Read(st, s)
	if s[0] != blkSIOErr {
		t.Errorf("short header: status %d", s[0])
	}
	// The device still works.
	if st, _, _ := request(d, blkTIn, 0, nil, 512, false); st != blkSOK {
		t.Errorf("after bad requests a good read fails: %d", st)
	}
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0 {
		t.Errorf("bad requests must not break the device")
	}
}

func allocatedBlocks(t *testing.T, path string) int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks
}

func TestBlockDiscardAndWriteZeroes(t *testing.T) {
	path := tempImage(t, 1<<20, 0x77)
	d, _ := newBlockDriver(t, DiskOptions{Path: path}, virtio.Modern, 0)
	before := allocatedBlocks(t, path)
	seg := func(sector uint64, n, flags uint32) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint64(b[0:], sector)
		binary.LittleEndian.PutUint32(b[8:], n)
		binary.LittleEndian.PutUint32(b[12:], flags)
		return b
	}
	if st, _, _ := request(d, blkTDiscard, 0, seg(0, 1024, 0), 0, false); st != blkSOK {
		t.Fatalf("discard status %d", st)
	}
	if st, _, _ := request(d, blkTWriteZeroes, 0, seg(1024, 8, 0), 0, false); st != blkSOK {
		t.Fatalf("write zeroes status %d", st)
	}
	file, _ := os.ReadFile(path)
	if !bytes.Equal(file[:512*1024], make([]byte, 512*1024)) || !bytes.Equal(file[512*1024:512*1032], make([]byte, 8*512)) {
		t.Errorf("discarded or zeroed ranges do not read back as zeros")
	}
	if file[512*1032] != 0x77 {
		t.Errorf("write zeroes went past its range")
	}
	if after := allocatedBlocks(t, path); after >= before {
		t.Errorf("discard freed nothing: %d blocks before, %d after", before, after)
	}
	if st, _, _ := request(d, blkTDiscard, 2040, seg(2040, 100, 0), 0, false); st != blkSIOErr {
		t.Errorf("discard past the end: status %d", st)
	}
}

func TestBlockDirect(t *testing.T) {
	path := tempImage(t, 64<<10, 0x33)
	d, b := newBlockDriver(t, DiskOptions{Path: path, Direct: true}, virtio.Modern, 0)
	// A write whose data buffer is page-aligned goes through O_DIRECT.
	data := bytes.Repeat([]byte{0xc4}, 4096)
	hdr := d.Buf(blkHeader(blkTOut, 8), 0)
	d.AlignNext(4096, 0)
	buf := d.Buf(data, 0)
	st := d.Buf([]byte{0xff}, 0)
	d.Submit([]virtiotest.Seg{{GPA: hdr, N: 16}, {GPA: buf, N: 4096}, {GPA: st, N: 1, Writable: true}}, false)
	d.Kick()
	d.Wait(1)
	if s := make([]byte, 1); d.Mem.Read(st, s) != nil || s[0] != blkSOK {
		t.Fatalf("direct write failed")
	}
	if b.disk.directIOs.Load() != 1 {
		t.Errorf("an aligned write did not use O_DIRECT (%d direct requests)", b.disk.directIOs.Load())
	}
	// A misaligned buffer falls back to buffered I/O and still works.
	d.AlignNext(4096, 16)
	status, _, gpa := request(d, blkTIn, 8, nil, 4096, false)
	got := make([]byte, 4096)
	d.Mem.Read(gpa, got)
	if status != blkSOK || !bytes.Equal(got, data) {
		t.Errorf("misaligned read through a direct disk: status %d, data ok %v", status, bytes.Equal(got, data))
	}
	if b.disk.directIOs.Load() != 1 {
		t.Errorf("a misaligned request used O_DIRECT")
	}
	if file, _ := os.ReadFile(path); !bytes.Equal(file[8*512:8*512+4096], data) {
		t.Errorf("the direct write is not in the file")
	}
}

// TestBlockHotPathAllocatesNothing: a read or write request, from header to
// status, allocates nothing on the Go heap.
func TestBlockHotPathAllocatesNothing(t *testing.T) {
	disk, err := OpenDisk(DiskOptions{Path: tempImage(t, 1<<20, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	b := New(disk, nil)
	mem := make([]byte, 8192+32)
	for _, typ := range []uint32{blkTIn, blkTOut, blkTFlush} {
		copy(mem, blkHeader(typ, 8))
		c := virtio.Chain{Buffers: make([]virtio.Buffer, 0, 8)}
		c.Buffers = append(c.Buffers,
			virtio.Buffer{Data: mem[:16]},
			virtio.Buffer{Data: mem[16 : 16+8192], Writable: typ == blkTIn},
			virtio.Buffer{Data: mem[16+8192 : 16+8192+1], Writable: true})
		if typ == blkTFlush {
			c.Buffers = []virtio.Buffer{c.Buffers[0], c.Buffers[2]}
		}
		b.handle(&c, nil) // warm the reusable buffers
		if n := testing.AllocsPerRun(50, func() { b.handle(&c, nil) }); n != 0 {
			t.Errorf("request type %d allocates %.1f times per request", typ, n)
		}
		if mem[16+8192] != blkSOK {
			t.Errorf("request type %d failed: status %d", typ, mem[16+8192])
		}
	}
}
