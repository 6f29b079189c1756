package ninep

import (
	"encoding/binary"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fullBody is a body that exactly fills layout: zero numbers, strings of
// one letter (the server refuses empty names with EINVAL, as the device
// refuses malformed messages), a walk of no names, a write of no data.
func fullBody(layout string) enc {
	var b enc
	for _, c := range layout {
		switch c {
		case '1':
			b = b.u8(0)
		case '2', 'w':
			b = b.u16(0)
		case 's', 'n', 't':
			b = b.str("x")
		case '4', 'p':
			b = b.u32(0)
		case '8':
			b = b.u64(0)
		}
	}
	return b
}

// TestEveryLayoutAnswered checks each message layout the device checks
// against what p9's server decodes: a body that exactly fills the layout
// must reach the server and be answered with its own tag, and one a byte
// shorter must be refused with EINVAL. A layout shorter than the server's
// decoder would pass a message the server cannot decode, and the server
// answers that with no tag, so the guest's request would never end (the
// fuzzer found that with Tsetattr).
func TestEveryLayoutAnswered(t *testing.T) {
	c := newClient(t, t.TempDir(), false)
	c.attach(1)
	var types []int
	for typ := range layouts {
		if typ != msgTversion { // a Tversion resets the session; tested on its own
			types = append(types, int(typ))
		}
	}
	sort.Ints(types)
	tag := uint16(100)
	ask := func(msg []byte) (reply, bool) {
		out := c.submit(msg, 256)
		c.d.Kick()
		u, ok := c.d.TryWait(1, 5*time.Second)
		if !ok {
			return reply{}, false
		}
		return c.read(out, u[0]), true
	}
	for _, typ := range types {
		body := fullBody(layouts[byte(typ)])
		if typ == tAttach { // afid NOFID: the server refuses any other with EINVAL
			binary.LittleEndian.PutUint32(body[4:], ^uint32(0))
		}
		tag++
		// Fid 0 is not attached: the server answers, with EBADF mostly,
		// and changes nothing.
		r, ok := ask(message(byte(typ), tag, body))
		switch {
		case !ok:
			t.Fatalf("type %d with a %d-byte body (layout %q) was never answered: the server could not decode it", typ, len(body), layouts[byte(typ)])
		case r.tag != tag || (r.typ != byte(typ)+1 && r.typ != msgRlerror):
			t.Errorf("type %d with a full body: answer type %d tag %d, want type %d or Rlerror with tag %d", typ, r.typ, r.tag, typ+1, tag)
		case r.errno() == unix.EINVAL && typ != msgTflush:
			t.Errorf("type %d with a full body was refused as malformed", typ)
		}
		tag++
		r, ok = ask(message(byte(typ), tag, body[:len(body)-1]))
		if !ok || r.tag != tag || r.errno() != unix.EINVAL {
			t.Errorf("type %d a byte short: answered %v, type %d tag %d errno %v; want EINVAL with tag %d", typ, ok, r.typ, r.tag, r.errno(), tag)
		}
	}
	c.ok(tGetattr, enc(nil).u32(1).u64(0x3fff))
}
