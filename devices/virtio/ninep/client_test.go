package ninep

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"golang.org/x/sys/unix"
)

// A 9P client for the tests: messages built by hand, sent through the
// virtiotest driver as a guest's virtio-9p driver does.

// 9P2000.L message types the tests send.
const (
	tStatfs    = 8
	tLopen     = 12
	tLcreate   = 14
	tSymlink   = 16
	tMknod     = 18
	tReadlink  = 22
	tGetattr   = 24
	tSetattr   = 26
	tXattrwalk = 30
	tXattrcr   = 32
	tReaddir   = 40
	tFsync     = 50
	tLock      = 52
	tLink      = 70
	tMkdir     = 72
	tRenameat  = 74
	tUnlinkat  = 76
	tVersion   = 100
	tAttach    = 104
	tFlush     = 108
	tWalk      = 110
	tRead      = 116
	tWrite     = 118
	tClunk     = 120
	tRemove    = 122
)

const noFID = 0xffffffff

// enc builds a message body.
type enc []byte

func (e enc) u8(v uint8) enc   { return append(e, v) }
func (e enc) u16(v uint16) enc { return binary.LittleEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc { return binary.LittleEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.LittleEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc { return append(e.u16(uint16(len(s))), s...) }

// message frames a body: size[4] type[1] tag[2] body.
func message(typ uint8, tag uint16, body enc) []byte {
	m := enc(nil).u32(uint32(headerSize + len(body))).u8(typ).u16(tag)
	return append(m, body...)
}

// reply is an R-message as the device returned it.
type reply struct {
	typ  uint8
	tag  uint16
	body []byte
	len  uint32 // the used length
}

// errno is an Rlerror's code, 0 for another answer.
func (r reply) errno() unix.Errno {
	if r.typ != msgRlerror || len(r.body) < 4 {
		return 0
	}
	return unix.Errno(binary.LittleEndian.Uint32(r.body))
}

type client struct {
	t   testing.TB
	d   *virtiotest.Driver
	dev *Device
	tag uint16

	// in and out, once set by reuse, hold every request and answer
	// (one at a time), so that thousands fit the test driver's RAM.
	in, out uint64
}

// newClient serves dir (read-only when ro) and sets the driver up.
func newClient(t testing.TB, dir string, ro bool) *client {
	t.Helper()
	return newClientWith(t, dir, Options{ReadOnly: ro}, 16)
}

// newClientWith serves dir as o says, on a queue of qsize.
func newClientWith(t testing.TB, dir string, o Options, qsize uint16) *client {
	t.Helper()
	share, err := OpenShare(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := New("virtio-9p0", "share", share, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := virtiotest.New(t, virtio.Modern, dev)
	t.Cleanup(func() { d.Close(); dev.Close() })
	d.Setup(qsize, 0)
	return &client{t: t, d: d, dev: dev}
}

// reuse makes every later request go through one pair of buffers, of
// inCap and outCap bytes.
func (c *client) reuse(inCap, outCap int) {
	c.in, c.out = c.d.Buf(nil, inCap), c.d.Buf(nil, outCap)
}

// submit makes msg available with room writable bytes for the answer,
// and returns where the answer goes.
func (c *client) submit(msg []byte, room int) uint64 {
	segs := []virtiotest.Seg{}
	if c.in != 0 {
		if err := c.d.Mem.Write(c.in, msg); err != nil {
			c.t.Fatal(err)
		}
		segs = append(segs, virtiotest.Seg{GPA: c.in, N: uint32(len(msg))}, virtiotest.Seg{GPA: c.out, N: uint32(room), Writable: true})
		c.d.Submit(segs, false)
		return c.out
	}
	if len(msg) > 0 {
		segs = append(segs, virtiotest.Seg{GPA: c.d.Buf(msg, 0), N: uint32(len(msg))})
	}
	out := c.d.Buf(nil, room)
	segs = append(segs, virtiotest.Seg{GPA: out, N: uint32(room), Writable: true})
	c.d.Submit(segs, false)
	return out
}

func (c *client) read(gpa uint64, u virtiotest.Used) reply {
	b := make([]byte, u.Len)
	if err := c.d.Mem.Read(gpa, b); err != nil {
		c.t.Fatal(err)
	}
	if len(b) < headerSize {
		return reply{len: u.Len}
	}
	return reply{typ: b[4], tag: binary.LittleEndian.Uint16(b[5:]), body: b[headerSize:], len: u.Len}
}

// raw sends msg as one request and waits for its answer.
func (c *client) raw(msg []byte, room int) reply {
	c.t.Helper()
	out := c.submit(msg, room)
	c.d.Kick()
	return c.read(out, c.d.Wait(1)[0])
}

// rpc sends a T-message with a fresh tag and checks the answer's tag.
func (c *client) rpc(typ uint8, body enc) reply {
	c.t.Helper()
	c.tag++
	r := c.raw(message(typ, c.tag, body), 8192)
	if r.tag != c.tag {
		c.t.Fatalf("sent tag %d (type %d), the answer has tag %d", c.tag, typ, r.tag)
	}
	return r
}

// ok sends a request that must succeed with answer type typ+1.
func (c *client) ok(typ uint8, body enc) reply {
	c.t.Helper()
	r := c.rpc(typ, body)
	if r.typ != typ+1 {
		c.t.Fatalf("request type %d: answer type %d (errno %v)", typ, r.typ, r.errno())
	}
	return r
}

// fails sends a request that must fail with want.
func (c *client) fails(typ uint8, body enc, want unix.Errno) {
	c.t.Helper()
	r := c.rpc(typ, body)
	if r.errno() != want {
		c.t.Errorf("request type %d: answer type %d errno %v, want %v", typ, r.typ, r.errno(), want)
	}
}

// attach negotiates the version and attaches fid to the share's root.
func (c *client) attach(fid uint32) {
	c.t.Helper()
	r := c.raw(message(tVersion, 0xffff, enc(nil).u32(MaxMsize*4).str("9P2000.L")), 64)
	if r.typ != msgRversion || binary.LittleEndian.Uint32(r.body) != MaxMsize {
		c.t.Fatalf("Rversion: type %d body %q (want msize %d)", r.typ, r.body, MaxMsize)
	}
	c.ok(tAttach, enc(nil).u32(fid).u32(noFID).str("root").str("").u32(0))
}

func (c *client) walk(fid, newfid uint32, names ...string) reply {
	c.t.Helper()
	b := enc(nil).u32(fid).u32(newfid).u16(uint16(len(names)))
	for _, n := range names {
		b = b.str(n)
	}
	return c.rpc(tWalk, b)
}

func (c *client) readFile(fid uint32, off uint64, count uint32) []byte {
	c.t.Helper()
	r := c.ok(tRead, enc(nil).u32(fid).u64(off).u32(count))
	n := binary.LittleEndian.Uint32(r.body)
	return r.body[4 : 4+n]
}

// hostFile writes a file under dir.
func hostFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
