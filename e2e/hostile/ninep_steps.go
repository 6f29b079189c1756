package main

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The 9p attacker (hostile.mode=9p): a raw virtio-9p driver at gokvm's
// first two virtio-mmio windows, one a writable share of a scratch
// directory (tag scratchTag) and the other the emulated host's whole root,
// read-only (tag hrootTag). Each step prints, on HOSTILE-9P lines, what
// the device answered (the R-message's type, or Rlerror=errno; a tally
// for requests sent by the thousand); e2e/hostile9p_test.go says what
// each must be.
const (
	scratchTag = "scratch"
	hrootTag   = "hroot"

	// msize is what the attacker negotiates: large enough for the
	// 60000-byte names of 9p-unlink.
	msize = 128 << 10

	// xattrSize is the extended attribute 9p-xattr announces and writes:
	// a server that buffers it until Tclunk holds all of it.
	xattrSize = 100 << 20

	// floodFirst is the first fid of 9p-fids, floodCap the most it
	// clones.
	floodFirst = 100
	floodCap   = 100000

	// unlinks is how many Tunlinkat of each kind 9p-unlink sends on the
	// scratch share, roUnlinks on the read-only one.
	unlinks   = 2000
	roUnlinks = 200
)

type ninepStep struct {
	name string
	run  func(c *conn) error
}

// Each step runs on both shares, the writable one first, except where it
// says otherwise.
var ninepSteps = []ninepStep{
	{"9p-attach", stepAttach},
	{"9p-mounts", stepMounts},
	{"9p-xattr", stepXattr},
	{"9p-unlink", stepUnlink},
	{"9p-fids", stepFidFlood},
	{"9p-reopen", stepReopen},
	{"9p-version", stepVersion},
	{"9p-after", stepAfter},
}

func run9p() error {
	regs, err := mapRegs()
	if err != nil {
		return err
	}
	a, err := newArena(256)
	if err != nil {
		return err
	}
	t, err := takePages(a, msize/pageSize)
	if err != nil {
		return err
	}
	r, err := takePages(a, 4)
	if err != nil {
		return err
	}
	byTag := map[string]*conn{}
	for i := 0; i < 2; i++ {
		base := uint64(mmioBase + i*mmioStride)
		d, err := newRingDev(fmt.Sprintf("9p%d", i), regs[i*mmioStride:(i+1)*mmioStride], base, a)
		if err != nil {
			return err
		}
		tag := mountTag(d)
		fmt.Printf("HOSTILE-PROBE %s magic=%#x version=%d id=%d features=%#x tag=%q rings=%#x\n",
			d.name, d.r(regMagic), d.version, d.r(regDeviceID), d.features(), tag, d.ring.pa)
		if d.r(regMagic) != 0x74726976 || d.r(regDeviceID) != ninepID || d.legacy() {
			return fmt.Errorf("%s: not a modern virtio-9p device at %#x", d.name, base)
		}
		if err := d.setup(); err != nil {
			return err
		}
		byTag[tag] = &conn{tag: tag, d: d, t: t, r: r}
	}
	conns := []*conn{byTag[scratchTag], byTag[hrootTag]}
	if conns[0] == nil || conns[1] == nil {
		return fmt.Errorf("want shares tagged %s and %s", scratchTag, hrootTag)
	}
	only := chosen()
	for _, s := range ninepSteps {
		if only != nil && !only[s.name] {
			continue
		}
		fmt.Printf("HOSTILE-STEP %s start\n", s.name)
		for _, c := range conns {
			if err := s.run(c); err != nil {
				fmt.Printf("HOSTILE-ERROR %s %s: %v\n", s.name, c.tag, err)
			}
		}
		fmt.Printf("HOSTILE-STEP %s done\n", s.name)
	}
	for _, c := range conns {
		c.d.reset()
	}
	return nil
}

// stepAttach: Tversion, then Tattach of fid 1 to the share's root.
func stepAttach(c *conn) error {
	a := c.version(msize)
	c.observe("version", fmt.Sprintf("%v msize=%d", a, c.msize))
	if !a.ok(tVersion) {
		return fmt.Errorf("Tversion: %v %v", a, a.err)
	}
	a = c.attach(1)
	c.observe("attach", a)
	return a.err
}

// readFile walks from the root to names, opens the file, reads its
// first bytes and clunks it, printing each answer under what.
func (c *conn) readFile(what string, names ...string) error {
	const fid = 50
	a := c.walk(c.root, fid, names...)
	c.observe(what+"-walk", a)
	if !a.ok(tWalk) {
		return a.err
	}
	defer c.clunk(fid)
	a = c.lopen(fid)
	c.observe(what+"-lopen", a)
	if !a.ok(tLopen) {
		return a.err
	}
	a, data := c.read(fid, 0, 4096)
	c.observe(what+"-read", fmt.Sprintf("%v n=%d %q", a, len(data), data[:min(len(data), 24)]))
	return a.err
}

// stepMounts: on the host's root, walks into the file systems mounted
// on it (each a separate walk of one name), into a directory and to a
// regular file of the root's own file system, which is read; on the
// scratch share, a file in a subdirectory.
func stepMounts(c *conn) error {
	if c.tag == scratchTag {
		return c.readFile("sub-hello", "sub", "hello")
	}
	for _, name := range []string{"proc", "sys", "dev", "tmp", "guest"} {
		a := c.walk(c.root, 60, name)
		c.observe("walk-"+name, a)
		if a.ok(tWalk) {
			c.clunk(60)
		}
		if a.err != nil {
			return a.err
		}
	}
	// What a walk into /proc reaches when nothing stops it.
	if err := c.readFile("proc-version", "proc", "version"); err != nil {
		return err
	}
	return c.readFile("scenarios-json", "scenarios.json")
}

// stepXattr: Txattrcreate of a 100 MiB attribute on a clone of the
// root, the whole attribute written in msize-sized Twrites, then
// Tclunk (which is when a server sets the attribute).
func stepXattr(c *conn) error {
	const fid = 10
	if c.msize < msize {
		return fmt.Errorf("msize %d: no Tversion answered as it should", c.msize)
	}
	a := c.walk(c.root, fid)
	c.observe("xattr-clone", a)
	if !a.ok(tWalk) {
		return fmt.Errorf("cloning the root: %v %v", a, a.err)
	}
	a = c.rpc(tXattrcreate, enc(nil).u32(fid).str("user.x").u64(xattrSize).u32(0), small)
	c.observe("xattrcreate", a)
	// Twrite is fid[4] offset[8] count[4] data after the header: a
	// message of exactly msize, but for the last, which is sent alone.
	chunk := int(c.msize) - ninepHeader - 16
	body := enc(nil).u32(fid).u64(0).u32(uint32(chunk)).append(make([]byte, chunk))
	writes, err := c.repeat(tWrite, body, small, xattrSize/chunk, func(i int, b []byte) {
		binary.LittleEndian.PutUint64(b[4:], uint64(i*chunk))
	})
	if rest := xattrSize % chunk; err == nil && rest > 0 {
		off := xattrSize - rest
		writes.add(c.rpc(tWrite, enc(nil).u32(fid).u64(uint64(off)).u32(uint32(rest)).append(make([]byte, rest)), small))
	}
	c.observe("xattr-writes", writes)
	a = c.clunk(fid)
	c.observe("xattr-clunk", a)
	return a.err
}

// stepUnlink: Tunlinkat in the root of 60000-byte names, then of 255-byte
// names that do not exist, each distinct (its first 8 bytes are its
// number). The read-only share gets fewer: it refuses them all alike.
func stepUnlink(c *conn) error {
	n := unlinks
	if c.tag == hrootTag {
		n = roUnlinks
	}
	for _, kind := range []struct {
		what string
		name string
	}{{"long", strings.Repeat("L", 60000)}, {"missing", strings.Repeat("m", 255)}} {
		body := enc(nil).u32(c.root).str(kind.name).u32(0)
		t, err := c.repeat(tUnlinkat, body, small, n, func(i int, b []byte) {
			if kind.what == "missing" {
				copy(b[4+2:], fmt.Sprintf("%08d", i))
			}
		})
		c.observe("unlink-"+kind.what, t)
		if err != nil {
			return err
		}
	}
	return nil
}

// stepFidFlood (on the scratch share; the host's root is only walked
// after): clones of the root as fids floodFirst on, until one is refused;
// then every clone is clunked and a walk on each share must work again.
func stepFidFlood(c *conn) error {
	if c.tag == scratchTag {
		fid := uint32(floodFirst)
		var stop answer
		for ; fid < floodFirst+floodCap; fid++ {
			if stop = c.walk(c.root, fid); !stop.ok(tWalk) {
				break
			}
		}
		clones := fid - floodFirst
		c.observe("fid-flood", fmt.Sprintf("clones=%d then=%v", clones, stop))
		if stop.err != nil {
			return stop.err
		}
		t := tally{}
		for f := uint32(floodFirst); f < fid; f++ {
			t.add(c.clunk(f))
		}
		c.observe("fid-flood-clunks", t)
	}
	a := c.walk(c.root, 70)
	c.observe("walk-after-flood", a)
	if a.ok(tWalk) {
		c.clunk(70)
	}
	return a.err
}

// stepReopen: Tlopen twice of the same fid.
func stepReopen(c *conn) error {
	const fid = 80
	names := []string{"sub", "hello"}
	if c.tag == hrootTag {
		names = []string{"scenarios.json"}
	}
	a := c.walk(c.root, fid, names...)
	if !a.ok(tWalk) {
		c.observe("reopen-walk", a)
		return a.err
	}
	defer c.clunk(fid)
	c.observe("lopen-first", c.lopen(fid))
	a = c.lopen(fid)
	c.observe("lopen-second", a)
	return a.err
}

// stepVersion: a fid kept open across a Tversion, and the root fid, used
// after it; then a new attach.
func stepVersion(c *conn) error {
	const open = 90
	a := c.walk(c.root, open)
	if !a.ok(tWalk) {
		c.observe("version-walk", a)
		return a.err
	}
	old := c.root
	a = c.version(msize)
	c.observe("version-again", fmt.Sprintf("%v msize=%d", a, c.msize))
	c.observe("old-root-walk", c.walk(old, 91))
	c.observe("old-fid-clunk", c.clunk(open))
	a = c.attach(2)
	c.observe("attach-again", a)
	return a.err
}

// stepAfter: what a driver does once all that is over must still work.
func stepAfter(c *conn) error {
	if c.tag == scratchTag {
		return c.readFile("after-sub-hello", "sub", "hello")
	}
	return c.readFile("after-scenarios-json", "scenarios.json")
}
