package ninep

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"golang.org/x/sys/unix"
)

// FuzzNinepMessage feeds arbitrary bytes to the device as T-messages,
// after a Tversion and a Tattach of fid 1 to the share's root (so that
// fuzzed messages can name a live fid). The input is cut into requests at
// the size each one claims (a size past the input's end takes the rest,
// so sizes lie too). Every request must be answered, the device must not
// panic, hang or break its queue, and a Tgetattr afterwards must work.
// The device's table of the server's fids (fidtable.go) must stay within
// the share's budget and agree with the server: every fid it can save
// answers a Tgetattr with the QID it saved, on the device and again on a
// device restored from the save, which must reopen every one of them.
func FuzzNinepMessage(f *testing.F) {
	seed := func(msgs ...[]byte) {
		var b []byte
		for _, m := range msgs {
			b = append(b, m...)
		}
		f.Add(b)
	}
	walk := func(tag uint16, fid, newfid uint32, names ...string) []byte {
		b := enc(nil).u32(fid).u32(newfid).u16(uint16(len(names)))
		for _, n := range names {
			b = b.str(n)
		}
		return message(tWalk, tag, b)
	}
	seed(walk(1, 1, 2, "f"), message(tLopen, 2, enc(nil).u32(2).u32(0)), message(tRead, 3, enc(nil).u32(2).u64(0).u32(100)))
	seed(walk(1, 1, 2), message(tLcreate, 2, enc(nil).u32(2).str("n").u32(2).u32(0o644).u32(0)),
		message(tWrite, 3, enc(nil).u32(2).u64(5).u32(3).u8(1).u8(2).u8(3)))
	seed(message(tMkdir, 1, enc(nil).u32(1).str("d").u32(0o755).u32(0)), message(tRenameat, 2, enc(nil).u32(1).str("d").u32(1).str("e")),
		message(tUnlinkat, 3, enc(nil).u32(1).str("e").u32(unix.AT_REMOVEDIR)))
	seed(message(tSymlink, 1, enc(nil).u32(1).str("l").str("/etc").u32(0)), walk(2, 1, 3, "l", "passwd"), walk(3, 1, 4, ".."))
	seed(message(tVersion, 0xffff, enc(nil).u32(7).str("9P2000.L")), message(tClunk, 1, enc(nil).u32(1)))
	seed(walk(1, 1, 2, "sub"), message(tLopen, 2, enc(nil).u32(2).u32(0)), message(tReaddir, 3, enc(nil).u32(2).u64(0).u32(50)))
	seed(message(tSetattr, 1, enc(nil).u32(1).u32(0xff).u32(0o7777).u32(0).u32(0).u64(1<<40).u64(0).u64(0).u64(0).u64(0)))
	seed(message(tXattrwalk, 1, enc(nil).u32(1).u32(5).str("user.x")), message(tRead, 2, enc(nil).u32(5).u64(0).u32(10)))
	seed(message(tFlush, 1, enc(nil).u16(1)), message(tStatfs, 2, enc(nil).u32(1)), message(tLock, 3, enc(nil).u32(1).u8(1).u32(0).u64(0).u64(0).u32(1).str("c")))
	seed([]byte{0xff, 0xff, 0xff, 0xff, tRead, 1, 0})
	// What a hostile guest tried against shares: an extended attribute
	// to buffer, unlinks of names too long or not there, a flood of fids,
	// the device's own fid, a second open, a Tversion mid-session.
	seed(walk(1, 1, 2, "f"), message(tXattrcr, 2, enc(nil).u32(2).str("user.x").u64(1<<30).u32(0)),
		message(tWrite, 3, enc(nil).u32(2).u64(0).u32(4).u32(0xdeadbeef)), message(tClunk, 4, enc(nil).u32(2)))
	seed(message(tUnlinkat, 1, enc(nil).u32(1).str(strings.Repeat("L", 300)).u32(0)),
		message(tUnlinkat, 2, enc(nil).u32(1).str("missing").u32(0)), message(tUnlinkat, 3, enc(nil).u32(1).str("f").u32(0)))
	var flood [][]byte
	for i := uint32(0); i < 32; i++ {
		flood = append(flood, walk(uint16(i), 1, 100+i))
	}
	seed(flood...)
	seed(walk(1, 1, reservedFid), walk(2, 1, 2, "f"), message(tLopen, 3, enc(nil).u32(2).u32(0)), message(tLopen, 4, enc(nil).u32(2).u32(0)))
	seed(walk(1, 1, 2), message(tVersion, 0xffff, enc(nil).u32(65536).str("9P2000.L")), message(tGetattr, 2, enc(nil).u32(2).u64(0x3fff)))
	// What the fid table follows: renames of directories holding fids,
	// a create over a name, removes, clones, an attach by name.
	seed(message(tMkdir, 1, enc(nil).u32(1).str("a").u32(0o755).u32(0)), walk(2, 1, 2, "a"), walk(3, 2, 3),
		message(tLcreate, 4, enc(nil).u32(3).str("x").u32(2).u32(0o644).u32(0)), message(tRenameat, 5, enc(nil).u32(1).str("a").u32(1).str("b")),
		walk(6, 1, 4, "b", "x"), message(tRemove, 7, enc(nil).u32(4)), message(tUnlinkat, 8, enc(nil).u32(1).str("b").u32(unix.AT_REMOVEDIR)))
	seed(message(tAttach, 1, enc(nil).u32(5).u32(noFID).str("u").str("/sub").u32(1)), walk(2, 5, 6), message(tLopen, 3, enc(nil).u32(6).u32(0)),
		message(tRenameat, 4, enc(nil).u32(1).str("sub").u32(1).str("sub2")), message(tRenameat, 5, enc(nil).u32(1).str("sub2").u32(1).str("sub")))
	seed(walk(1, 1, 2, "f"), message(20, 2, enc(nil).u32(2).u32(1).str("f2")), message(tLopen, 3, enc(nil).u32(2).u32(2)),
		message(20, 4, enc(nil).u32(2).u32(1).str("f")), walk(5, 1, 1, "sub"))

	dir := f.TempDir()
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	hostFile(f, dir, "f", []byte("hello"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newClient(t, dir, false)
		c.attach(1)
		// The test driver's RAM holds some 300 requests; 64 say enough.
		for i := 0; len(data) > 0 && i < 64; i++ {
			n := len(data)
			if n >= 4 {
				if size := int(binary.LittleEndian.Uint32(data)); size >= 1 && size < n {
					n = size
				}
			}
			r := c.raw(data[:n], 8192)
			if r.len > 8192 {
				t.Fatalf("an answer of %d bytes in 8192", r.len)
			}
			data = data[n:]
		}
		if s := c.d.Read32(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
			t.Fatalf("messages broke the device (status %#x)", s)
		}
		c = checkTracked(t, c, dir)
		// The fuzzed messages may have clunked fid 1 or renegotiated
		// msize: attach anew and ask again.
		c.attach(20)
		c.ok(tGetattr, enc(nil).u32(20).u64(0x3fff))
	})
}

// checkTracked checks c's device's fid table against its server, saves
// the device, restores it onto a fresh one serving dir, checks the fids
// came back, and returns the client of the restored device.
func checkTracked(t *testing.T, c *client, dir string) *client {
	t.Helper()
	c.d.Pause()
	c.dev.run.Lock()
	s := c.dev.sess
	s.mu.Lock()
	if tb := s.fids; len(tb.fids) > tb.maxFids || tb.nodes > tb.maxNodes || tb.nodes < 1 {
		t.Errorf("the fid table holds %d fids and %d nodes, past its bounds %d and %d", len(tb.fids), tb.nodes, tb.maxFids, tb.maxNodes)
	}
	s.mu.Unlock()
	c.dev.run.Unlock()
	st, err := c.d.Save()
	if err != nil {
		t.Fatalf("saving: %v", err)
	}
	c.d.Resume()
	saved := savedSession(t, st)
	live := map[uint32]uint64{}
	for _, f := range saved.Fids {
		if f.Lost {
			continue
		}
		got, err := c.getattrQID(f.Fid)
		if err != nil {
			t.Fatalf("fid %d, saved at %q: getattr %v", f.Fid, f.Path, err)
		}
		if f.QID != nil && f.QID.Path != got {
			t.Fatalf("fid %d, saved at %q with QID path %d: the server's is %d", f.Fid, f.Path, f.QID.Path, got)
		}
		live[f.Fid] = got
	}
	n, lines := c.restore(c.save(), dir, Options{})
	for fid, want := range live {
		if got, err := n.getattrQID(fid); err != nil || got != want {
			t.Fatalf("fid %d after the restore: QID path %d, %v; want %d (log %q)", fid, got, err, want, lines.String())
		}
	}
	// The lost ones, and only they, are not reopened.
	want := ""
	if lost := len(saved.Fids) - len(live); lost > 0 {
		want = fmt.Sprintf("%d of the %d saved fids could not be reopened", lost, len(saved.Fids))
	}
	if l := lines.String(); want == "" && strings.Contains(l, "could not be reopened") || !strings.Contains(l, want) {
		t.Errorf("the restore logged %q, want %q", l, want)
	}
	return n
}
