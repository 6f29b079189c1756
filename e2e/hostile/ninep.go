package main

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// A raw virtio-9p driver: each request is one chain, the T-message in
// readable descriptors then room for the R-message in writable ones, made
// available alone and waited for before the next (so descriptors from 0
// on are free each time).

// ninepID is virtio-9p's device type.
const ninepID = 9

// 9P2000.L message types sent, and the answers' (a T-message's type + 1).
const (
	tLerror      = 6 // Rlerror is 7
	tLopen       = 12
	tXattrcreate = 32
	tUnlinkat    = 76
	tVersion     = 100
	tAttach      = 104
	tWalk        = 110
	tRead        = 116
	tWrite       = 118
	tClunk       = 120

	rLerror = tLerror + 1

	noFid = 0xffffffff
	noTag = 0xffff

	// ninepHeader is size[4] type[1] tag[2].
	ninepHeader = 7
)

var rNames = map[uint8]string{
	rLerror: "Rlerror", tLopen + 1: "Rlopen", tXattrcreate + 1: "Rxattrcreate",
	tUnlinkat + 1: "Runlinkat", tVersion + 1: "Rversion", tAttach + 1: "Rattach",
	tWalk + 1: "Rwalk", tRead + 1: "Rread", tWrite + 1: "Rwrite", tClunk + 1: "Rclunk",
}

// enc builds a message body, little-endian as 9P is.
type enc []byte

func (e enc) u16(v uint16) enc    { return binary.LittleEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc    { return binary.LittleEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc    { return binary.LittleEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc    { return append(e.u16(uint16(len(s))), s...) }
func (e enc) append(b []byte) enc { return append(e, b...) }

// pages is memory for one message, page by page. The arena's pages are
// seldom physically contiguous by the dozen, so a message spans one
// descriptor per physically contiguous run of its pages.
type pages []region

func takePages(a *arena, n int) (pages, error) {
	p := make(pages, n)
	for i := range p {
		var err error
		if p[i], err = a.take(1); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p pages) size() int { return len(p) * pageSize }

// put copies b into the pages from the start.
func (p pages) put(b []byte) {
	for i := 0; len(b) > 0; i++ {
		b = b[copy(p[i].b, b):]
	}
}

// get copies the start of the pages into b.
func (p pages) get(b []byte) {
	for i := 0; len(b) > 0; i++ {
		b = b[copy(b, p[i].b):]
	}
}

// descs covers the first n bytes, adjacent pages in one descriptor.
func (p pages) descs(n int, flags uint16) []desc {
	var ds []desc
	for i := 0; n > 0; i++ {
		k := uint32(min(n, pageSize))
		if last := len(ds) - 1; last >= 0 && ds[last].addr+uint64(ds[last].len) == p[i].pa {
			ds[last].len += k
		} else {
			ds = append(ds, desc{addr: p[i].pa, len: k, flags: flags})
		}
		n -= int(k)
	}
	return ds
}

// answer is an R-message, or what kept one from coming.
type answer struct {
	typ  uint8
	body []byte
	err  error
}

func (a answer) errno() uint32 {
	if a.typ != rLerror || len(a.body) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(a.body)
}

// String is how an observation is printed: "Rlerror=18", "Rwalk", ...
func (a answer) String() string {
	switch {
	case a.err != nil:
		return "error"
	case a.typ == rLerror:
		return fmt.Sprintf("Rlerror=%d", a.errno())
	case rNames[a.typ] != "":
		return rNames[a.typ]
	}
	return fmt.Sprintf("R%d", a.typ)
}

// ok reports whether the answer is the one a request of type t succeeds
// with.
func (a answer) ok(t uint8) bool { return a.err == nil && a.typ == t+1 }

// conn is one 9p device, driven as a session with the server behind it.
type conn struct {
	tag   string // the device's mount tag
	d     *dev
	t, r  pages // shared by every conn: requests go one at a time
	next  uint16
	msize uint32
	root  uint32 // the attached fid
	// broken is set once a request went unanswered: the ring may still
	// hold it, so nothing more is sent.
	broken error
}

// mountTag reads the tag from the config space (tag_len[2], then the
// tag), 32 bits at a time as every register here.
func mountTag(d *dev) string {
	var cfg []byte
	for off := 0; off < 36; off += 4 {
		cfg = binary.LittleEndian.AppendUint32(cfg, d.r(0x100+off))
	}
	n := min(int(binary.LittleEndian.Uint16(cfg)), len(cfg)-2)
	return string(cfg[2 : 2+n])
}

// usedLen is the length the device wrote for the used element at slot.
func (d *dev) usedLen(slot uint16) uint32 {
	off := pageSize + 4 + 8*int(slot%queueSize) + 4
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&d.ring.b[off])))
}

// waitOne waits for the next used element and returns its length. It
// polls the used index, then sleeps in short steps: d.wait's millisecond
// sleeps would add seconds to the thousands of requests here, whose
// answers take a few milliseconds at most even in an emulated host.
func (d *dev) waitOne(timeout time.Duration) (uint32, bool) {
	deadline := time.Now().Add(timeout)
	for spins := 0; d.usedIdx() == d.lastUsed; spins++ {
		if d.r(regStatus)&stNeedsReset != 0 || time.Now().After(deadline) {
			return 0, false
		}
		if spins > 100 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	n := d.usedLen(d.lastUsed)
	d.lastUsed++
	return n, true
}

// rpc sends one T-message of type typ and waits for its answer, with
// room writable bytes for it.
func (c *conn) rpc(typ uint8, body enc, room int) answer {
	tag := c.newTag()
	if typ == tVersion {
		tag = noTag
	}
	return c.send(typ, tag, body, room)
}

// newTag is the next tag, never Tversion's.
func (c *conn) newTag() uint16 {
	c.next++
	if c.next == noTag {
		c.next = 1
	}
	return c.next
}

func (c *conn) send(typ uint8, tag uint16, body enc, room int) answer {
	if c.broken != nil {
		return answer{err: c.broken}
	}
	size := ninepHeader + len(body)
	if size > c.t.size() || room > c.r.size() {
		return answer{err: fmt.Errorf("a %d-byte message (room %d) does not fit the buffers", size, room)}
	}
	msg := enc(nil).u32(uint32(size))
	msg = append(msg, typ)
	msg = append(msg.u16(tag), body...)
	c.t.put(msg)
	return c.resend(typ, size, room)
}

// repeat sends the same T-message n times, each under a fresh tag and
// changed by patch(i, its body's start) first, and tallies the answers;
// it stops at the first request that goes unanswered. The message is
// laid out in the buffers once: copying tens of kilobytes a request in
// an emulated guest would cost more than the request.
func (c *conn) repeat(typ uint8, body enc, room, n int, patch func(i int, body []byte)) (tally, error) {
	t := tally{}
	for i := 0; i < n; i++ {
		var a answer
		if i == 0 {
			patch(i, body)
			a = c.rpc(typ, body, room)
		} else {
			binary.LittleEndian.PutUint16(c.t[0].b[5:], c.newTag())
			patch(i, c.t[0].b[ninepHeader:])
			a = c.resend(typ, ninepHeader+len(body), room)
		}
		t.add(a)
		if a.err != nil {
			return t, a.err
		}
	}
	return t, nil
}

// resend submits the size-byte message in c.t and waits for its answer.
func (c *conn) resend(typ uint8, size, room int) answer {
	if c.broken != nil {
		return answer{err: c.broken}
	}
	tag := binary.LittleEndian.Uint16(c.t[0].b[5:])
	clear(c.r[0].b[:ninepHeader])
	ds := append(c.t.descs(size, 0), c.r.descs(room, descWrite)...)
	c.d.submit(c.d.chain(0, ds...))
	c.d.kick()
	n, ok := c.d.waitOne(10 * time.Second)
	if !ok {
		c.broken = fmt.Errorf("%s: no answer to a request of type %d (devstatus %#x)", c.tag, typ, c.d.r(regStatus))
		return answer{err: c.broken}
	}
	if n < ninepHeader || int(n) > room {
		return answer{err: fmt.Errorf("%s: an answer of %d bytes to type %d", c.tag, n, typ)}
	}
	b := make([]byte, n)
	c.r.get(b)
	if got := binary.LittleEndian.Uint16(b[5:]); got != tag {
		return answer{err: fmt.Errorf("%s: sent tag %d (type %d), the answer has tag %d", c.tag, tag, typ, got)}
	}
	return answer{typ: b[4], body: b[ninepHeader:]}
}

// small is the room for any answer but Rread's.
const small = 4096

func (c *conn) version(msize uint32) answer {
	a := c.rpc(tVersion, enc(nil).u32(msize).str("9P2000.L"), small)
	if a.ok(tVersion) && len(a.body) >= 4 {
		c.msize = binary.LittleEndian.Uint32(a.body)
	}
	return a
}

func (c *conn) attach(fid uint32) answer {
	a := c.rpc(tAttach, enc(nil).u32(fid).u32(noFid).str("root").str("").u32(0), small)
	if a.ok(tAttach) {
		c.root = fid
	}
	return a
}

func (c *conn) walk(fid, newfid uint32, names ...string) answer {
	b := enc(nil).u32(fid).u32(newfid).u16(uint16(len(names)))
	for _, n := range names {
		b = b.str(n)
	}
	return c.rpc(tWalk, b, small)
}

func (c *conn) clunk(fid uint32) answer { return c.rpc(tClunk, enc(nil).u32(fid), small) }

// lopen opens fid read-only (Linux's O_RDONLY, as 9P2000.L takes).
func (c *conn) lopen(fid uint32) answer { return c.rpc(tLopen, enc(nil).u32(fid).u32(0), small) }

// read reads up to count bytes at off; the data follow count[4] in the
// answer's body.
func (c *conn) read(fid uint32, off uint64, count uint32) (answer, []byte) {
	a := c.rpc(tRead, enc(nil).u32(fid).u64(off).u32(count), ninepHeader+4+int(count))
	if !a.ok(tRead) || len(a.body) < 4 {
		return a, nil
	}
	n := min(int(binary.LittleEndian.Uint32(a.body)), len(a.body)-4)
	return a, a.body[4 : 4+n]
}

// tally counts observations of many requests alike.
type tally map[string]int

func (t tally) add(a answer) { t[a.String()]++ }

// String is "Rlerror=36:2000" or "Rwrite:800,Rlerror=22:1", sorted.
func (t tally) String() string {
	var parts []string
	for k, v := range t {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// observe prints what the device answered, for the test.
func (c *conn) observe(what string, obs any) {
	fmt.Printf("HOSTILE-9P %s %s %v\n", c.tag, what, obs)
}
