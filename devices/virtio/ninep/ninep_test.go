package ninep

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"golang.org/x/sys/unix"
)

// TestNinepIdentity: the transport presents a 9p device with its mount
// tag in the config space.
func TestNinepIdentity(t *testing.T) {
	c := newClient(t, t.TempDir(), false)
	if id := c.d.Read32(virtio.RegDeviceID); id != DeviceID {
		t.Errorf("device ID %d, want %d", id, DeviceID)
	}
	c.d.Write32(virtio.RegDeviceFeaturesSel, 0)
	if f := c.d.Read32(virtio.RegDeviceFeatures); f&(1<<featureMountTag) == 0 {
		t.Errorf("features %#x lack VIRTIO_9P_MOUNT_TAG", f)
	}
	cfg := make([]byte, 2+len("share"))
	for i := range cfg {
		b := make([]byte, 1)
		c.d.Dev.ReadMMIO(virtio.RegConfig+uint64(i), b)
		cfg[i] = b[0]
	}
	if binary.LittleEndian.Uint16(cfg) != 5 || string(cfg[2:]) != "share" {
		t.Errorf("config space %q, want tag_len 5 and \"share\"", cfg)
	}
	if _, err := New("x", strings.Repeat("t", MaxTagLen+1), nil, nil); err == nil {
		t.Errorf("a %d-byte tag was accepted", MaxTagLen+1)
	}
	if _, err := New("x", "", nil, nil); err == nil {
		t.Errorf("an empty tag was accepted")
	}
}

// TestNinepReadFile: version, attach, walk, open, read, getattr, readdir.
func TestNinepReadFile(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes
	hostFile(t, dir, "f.txt", data)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	hostFile(t, filepath.Join(dir, "sub"), "g", []byte("gee"))
	c := newClient(t, dir, false)
	c.attach(1)
	if r := c.walk(1, 2, "f.txt"); r.typ != tWalk+1 || binary.LittleEndian.Uint16(r.body) != 1 {
		t.Fatalf("walk f.txt: type %d errno %v", r.typ, r.errno())
	}
	r := c.ok(tGetattr, enc(nil).u32(2).u64(0x3fff))
	// valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8]
	if size := binary.LittleEndian.Uint64(r.body[8+13+4+4+4+8+8:]); size != uint64(len(data)) {
		t.Errorf("getattr size %d, want %d", size, len(data))
	}
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	if got := c.readFile(2, 16, 32); string(got) != string(data[16:48]) {
		t.Errorf("read %q", got)
	}
	// A large read, as with a large msize.
	c.tag++
	out := c.submit(message(tRead, c.tag, enc(nil).u32(2).u64(0).u32(MaxMsize-11)), MaxMsize)
	c.d.Kick()
	big := c.read(out, c.d.Wait(1)[0])
	if big.typ != tRead+1 || !bytes.Equal(big.body[4:], data) {
		t.Errorf("a read of the whole file: type %d, %d bytes", big.typ, len(big.body))
	}
	// Past the end: nothing.
	if got := c.readFile(2, uint64(len(data)), 100); len(got) != 0 {
		t.Errorf("read past the end gave %d bytes", len(got))
	}
	// Two names in one walk, then a directory listing.
	if r := c.walk(1, 3, "sub", "g"); r.typ != tWalk+1 {
		t.Fatalf("walk sub/g: errno %v", r.errno())
	}
	if got := func() string { c.ok(tLopen, enc(nil).u32(3).u32(0)); return string(c.readFile(3, 0, 10)) }(); got != "gee" {
		t.Errorf("sub/g reads %q", got)
	}
	c.walk(1, 4, "sub")
	c.ok(tLopen, enc(nil).u32(4).u32(0))
	r = c.ok(tReaddir, enc(nil).u32(4).u64(0).u32(4096))
	if !bytes.Contains(r.body, []byte("g")) {
		t.Errorf("readdir of sub: %q", r.body)
	}
	c.ok(tClunk, enc(nil).u32(4))
	c.fails(tRead, enc(nil).u32(4).u64(0).u32(10), unix.EBADF)
	// --stats counts the files' reads (the one past the end too), not
	// the directory's, nor a read of a fid already clunked.
	want := ShareStats{Reads: 4, ReadBytes: 32 + uint64(len(data)) + 3}
	if got := c.dev.share.Stats(); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// TestNinepWrite: create, write, mkdir, rename, unlink, symlink on a rw
// share reach the host; created files belong to gokvm's user.
func TestNinepWrite(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2)
	c.ok(tLcreate, enc(nil).u32(2).str("new.txt").u32(unix.O_WRONLY).u32(0o4755).u32(12345))
	r := c.ok(tWrite, enc(nil).u32(2).u64(0).u32(5).u8('h').u8('e').u8('l').u8('l').u8('o'))
	if n := binary.LittleEndian.Uint32(r.body); n != 5 {
		t.Errorf("wrote %d bytes", n)
	}
	c.ok(tFsync, enc(nil).u32(2).u32(0))
	c.ok(tClunk, enc(nil).u32(2))
	if got, want := c.dev.share.Stats(), (ShareStats{Writes: 1, WroteBytes: 5}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	p := filepath.Join(dir, "new.txt")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "hello" {
		t.Fatalf("the host has %q, %v", b, err)
	}
	var st unix.Stat_t
	unix.Stat(p, &st)
	if st.Uid != uint32(os.Geteuid()) || st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		t.Errorf("created file: uid %d mode %o; want gokvm's uid %d and no set-id bits", st.Uid, st.Mode, os.Geteuid())
	}
	// A chown is ignored: the file stays gokvm's.
	c.walk(1, 3, "new.txt")
	c.ok(tSetattr, enc(nil).u32(3).u32(0x2|0x4|0x8).u32(0).u32(4321).u32(4321).u64(2).u64(0).u64(0).u64(0).u64(0))
	unix.Stat(p, &st)
	if st.Uid != uint32(os.Geteuid()) || st.Size != 2 {
		t.Errorf("after setattr: uid %d size %d", st.Uid, st.Size)
	}
	c.ok(tMkdir, enc(nil).u32(1).str("d").u32(0o755).u32(0))
	c.ok(tRenameat, enc(nil).u32(1).str("new.txt").u32(1).str("renamed.txt"))
	c.ok(tSymlink, enc(nil).u32(1).str("ln").str("renamed.txt").u32(0))
	c.ok(tUnlinkat, enc(nil).u32(1).str("d").u32(unix.AT_REMOVEDIR))
	if _, err := os.Stat(filepath.Join(dir, "renamed.txt")); err != nil {
		t.Errorf("rename: %v", err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "ln")); l != "renamed.txt" {
		t.Errorf("symlink: %q", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "d")); !os.IsNotExist(err) {
		t.Errorf("unlinkat of d: %v", err)
	}
	// No device nodes.
	if r := c.rpc(tMknod, enc(nil).u32(1).str("null").u32(unix.S_IFCHR|0o666).u32(1).u32(3).u32(0)); r.errno() == 0 {
		t.Errorf("mknod of a character device succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, "null")); err == nil {
		t.Errorf("a device node was made")
	}
	if _, err := (&file{s: c.dev.share, fd: unix.AT_FDCWD}).Mknod("null", unix.S_IFBLK|0o600, 8, 0, 0, 0); err != unix.EPERM {
		t.Errorf("Mknod of a block device: %v, want EPERM", err)
	}
}

// TestNinepReadOnly: a ,ro share refuses every change with EROFS and the
// files stay as they were.
func TestNinepReadOnly(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("keep"))
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	snapshot := func() string {
		var b strings.Builder
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				data, _ := os.ReadFile(p)
				b.WriteString(p + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + string(data) + "\n")
			}
			return nil
		})
		return b.String()
	}
	before := snapshot()
	c := newClient(t, dir, true)
	c.attach(1)
	c.walk(1, 2, "f")
	c.fails(tLopen, enc(nil).u32(2).u32(unix.O_WRONLY), unix.EROFS)
	c.fails(tLopen, enc(nil).u32(2).u32(unix.O_RDWR), unix.EROFS)
	c.fails(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY|unix.O_TRUNC), unix.EROFS)
	c.fails(tSetattr, enc(nil).u32(2).u32(0x8).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0), unix.EROFS)
	c.fails(tSetattr, enc(nil).u32(2).u32(0x1).u32(0o777).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0), unix.EROFS)
	c.walk(1, 3)
	c.fails(tLcreate, enc(nil).u32(3).str("new").u32(unix.O_WRONLY).u32(0o644).u32(0), unix.EROFS)
	c.fails(tMkdir, enc(nil).u32(1).str("nd").u32(0o755).u32(0), unix.EROFS)
	c.fails(tSymlink, enc(nil).u32(1).str("sl").str("f").u32(0), unix.EROFS)
	c.fails(tMknod, enc(nil).u32(1).str("fifo").u32(unix.S_IFIFO|0o644).u32(0).u32(0).u32(0), unix.EROFS)
	c.fails(tLink, enc(nil).u32(1).u32(2).str("hard"), unix.EROFS)
	c.fails(tRenameat, enc(nil).u32(1).str("f").u32(1).str("g"), unix.EROFS)
	c.fails(tUnlinkat, enc(nil).u32(1).str("f").u32(0), unix.EROFS)
	c.fails(tUnlinkat, enc(nil).u32(1).str("d").u32(unix.AT_REMOVEDIR), unix.EROFS)
	c.walk(1, 4, "f")
	c.fails(tRemove, enc(nil).u32(4), unix.EROFS)
	// An extended attribute is refused as every change is, and the fid
	// is not one to write to.
	c.walk(1, 5, "f")
	c.fails(tXattrcr, enc(nil).u32(5).str("user.x").u64(1).u32(0), unix.EROFS)
	if r := c.rpc(tWrite, enc(nil).u32(5).u64(0).u32(1).u8('v')); r.typ != msgRlerror {
		t.Errorf("a Twrite on a fid whose Txattrcreate was refused: answer type %d", r.typ)
	}
	c.ok(tClunk, enc(nil).u32(5))
	// Reading still works.
	c.walk(1, 6, "f")
	c.ok(tLopen, enc(nil).u32(6).u32(unix.O_RDONLY))
	if got := c.readFile(6, 0, 100); string(got) != "keep" {
		t.Errorf("read %q", got)
	}
	if after := snapshot(); after != before {
		t.Errorf("the read-only share changed:\n%s\nbecame\n%s", before, after)
	}
}

// TestNinepConfinement: nothing outside the share is reachable: names
// "..", "." and with "/" are refused, and symlinks, absolute or relative,
// are never followed (their targets can be read, as text).
func TestNinepConfinement(t *testing.T) {
	outside := t.TempDir()
	hostFile(t, outside, "secret", []byte("outside"))
	dir := filepath.Join(outside, "share")
	os.Mkdir(dir, 0o755)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "etc"))
	os.Symlink("../secret", filepath.Join(dir, "rel"))
	os.Symlink("../../secret", filepath.Join(dir, "sub", "rel2"))
	os.Symlink("..", filepath.Join(dir, "up"))
	os.Symlink(outside, filepath.Join(dir, "abs"))
	c := newClient(t, dir, false)
	c.attach(1)
	for _, names := range [][]string{
		{".."}, {"sub", ".."}, {"sub", "..", ".."}, {"."}, {"sub/.."}, {"../secret"}, {""},
		{"etc", "passwd"}, {"up", "secret"}, {"abs", "secret"}, {"sub", "rel2", "x"},
	} {
		if r := c.walk(1, 9, names...); r.typ != msgRlerror {
			t.Errorf("walk %q succeeded (type %d)", names, r.typ)
			c.ok(tClunk, enc(nil).u32(9))
		}
	}
	// A symlink itself can be walked to and read, not opened.
	for name, target := range map[string]string{"etc": "/etc", "rel": "../secret", "up": "..", "abs": outside} {
		if r := c.walk(1, 10, name); r.typ != tWalk+1 || r.body[2] != 0x02 { // QID type symlink
			t.Fatalf("walk %s: type %d body %x", name, r.typ, r.body)
		}
		r := c.ok(tReadlink, enc(nil).u32(10))
		if got := string(r.body[2:]); got != target {
			t.Errorf("readlink %s = %q, want %q", name, got, target)
		}
		c.fails(tLopen, enc(nil).u32(10).u32(unix.O_RDONLY), unix.EINVAL) // p9: symlinks cannot be opened
		c.ok(tClunk, enc(nil).u32(10))
	}
	// Creating through a symlink does not follow it.
	c.walk(1, 11, "etc")
	c.fails(tLcreate, enc(nil).u32(11).str("x").u32(unix.O_WRONLY).u32(0o644).u32(0), unix.EINVAL)
	c.fails(tMkdir, enc(nil).u32(11).str("x").u32(0o755).u32(0), unix.EINVAL)
	if _, err := os.Stat("/etc/x"); err == nil {
		t.Errorf("/etc/x exists")
	}
}

// TestShareRenameRace: a directory held by the guest and then renamed and
// replaced on the host by a symlink pointing out of the share: walks
// from the held directory stay in it, and fresh walks refuse the
// symlink. A goroutine flipping a name between a directory and a symlink
// to /etc while another walks through it never reaches /etc.
func TestShareRenameRace(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	hostFile(t, filepath.Join(dir, "a"), "passwd", []byte("in the share"))
	s, err := OpenShare(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, _ := s.Attach()
	defer root.Close()
	_, a, err := root.Walk([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "a2"))
	os.Symlink("/etc", filepath.Join(dir, "a"))
	_, p, err := a.Walk([]string{"passwd"})
	if err != nil {
		t.Fatalf("walk from the held directory: %v", err)
	}
	p.Open(0)
	buf := make([]byte, 100)
	n, _ := p.ReadAt(buf, 0)
	p.Close()
	if string(buf[:n]) != "in the share" {
		t.Errorf("the held directory's passwd reads %q", buf[:n])
	}
	if _, f, err := root.Walk([]string{"a", "passwd"}); err == nil {
		f.Close()
		t.Errorf("a walk through the symlink a -> /etc succeeded")
	}

	// The race: x flips between a directory of the share and a symlink
	// to /etc; walks of x/passwd find the share's file or nothing.
	var etc unix.Stat_t
	if err := unix.Stat("/etc/passwd", &etc); err != nil {
		t.Skip("no /etc/passwd to aim at")
	}
	x, x2 := filepath.Join(dir, "x"), filepath.Join(dir, "x.dir")
	os.Mkdir(x2, 0o755)
	hostFile(t, x2, "passwd", []byte("mine"))
	os.Symlink("/etc", x)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			// x is the symlink, then the directory, then the symlink.
			unix.Renameat2(unix.AT_FDCWD, x2, unix.AT_FDCWD, x, unix.RENAME_EXCHANGE)
			unix.Renameat2(unix.AT_FDCWD, x2, unix.AT_FDCWD, x, unix.RENAME_EXCHANGE)
		}
	}()
	walks, found := 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		_, f, err := root.Walk([]string{"x", "passwd"})
		walks++
		if err != nil {
			continue
		}
		found++
		st, _ := f.(*file).stat()
		f.Close()
		if st.Dev == etc.Dev && st.Ino == etc.Ino {
			t.Fatalf("a walk of x/passwd reached /etc/passwd")
		}
	}
	t.Logf("%d walks, %d found the share's passwd", walks, found)
}

// TestNinepMalformed: requests that lie about their size, are too short,
// too large, of unknown or answer types, missing fields, or reusing a tag
// in progress are each answered with an Rlerror; the device goes on.
func TestNinepMalformed(t *testing.T) {
	c := newClient(t, t.TempDir(), false)
	c.attach(1)
	lying := message(tClunk, 7, enc(nil).u32(1))
	binary.LittleEndian.PutUint32(lying, 4000)
	small := message(tClunk, 8, enc(nil).u32(1))
	binary.LittleEndian.PutUint32(small, 3)
	huge := message(tWrite, 9, enc(nil).u32(1).u64(0).u32(MaxMsize).append(make([]byte, MaxMsize)...))
	for _, tc := range []struct {
		name string
		msg  []byte
		want unix.Errno
	}{
		{"size past the buffers", lying, unix.EINVAL},
		{"size below the header", small, unix.EINVAL},
		{"larger than msize", huge, unix.EMSGSIZE},
		{"unknown type", message(200, 10, nil), unix.ENOSYS},
		{"an answer's type", message(msgRlerror, 11, enc(nil).u32(5)), unix.ENOSYS},
		{"Google extension", message(128, 12, nil), unix.ENOSYS},
		{"missing fields", message(tWalk, 13, enc(nil).u32(1)), unix.EINVAL},
		{"a string past the end", message(tWalk, 14, enc(nil).u32(1).u32(2).u16(1).u16(50).u8('a')), unix.EINVAL},
		{"write count lying", message(tWrite, 15, enc(nil).u32(1).u64(0).u32(100).u8(1)), unix.EINVAL},
		{"Tversion with no version", message(tVersion, 16, enc(nil).u32(8192)), unix.EINVAL},
		{"no header", []byte{1, 2, 3}, unix.EINVAL},
		{"empty", nil, unix.EINVAL},
	} {
		room := 64
		r := c.raw(tc.msg, room)
		if r.errno() != tc.want {
			t.Errorf("%s: answer type %d errno %v, want %v", tc.name, r.typ, r.errno(), tc.want)
		}
	}
	// No room for the answer at all: the chain comes back with nothing.
	out := c.submit(message(tGetattr, 20, enc(nil).u32(1).u64(0x3fff)), 4)
	c.d.Kick()
	if u := c.d.Wait(1)[0]; u.Len != 0 {
		t.Errorf("an answer written into 4 bytes: %d", u.Len)
	}
	_ = out
	// Room for an error only.
	if r := c.raw(message(tGetattr, 21, enc(nil).u32(1).u64(0x3fff)), 11); r.errno() != unix.EMSGSIZE {
		t.Errorf("an answer larger than its room: type %d errno %v", r.typ, r.errno())
	}
	// Two requests with one tag in flight: the second is refused. Tflush
	// of a finished tag is answered.
	c.submit(message(tGetattr, 30, enc(nil).u32(1).u64(0x3fff)), 256)
	c.submit(message(tGetattr, 30, enc(nil).u32(1).u64(0x3fff)), 256)
	c.d.Kick()
	c.d.Wait(2)
	c.ok(tFlush, enc(nil).u16(30))
	// A Tflush of itself has nothing to wait for (p9's server would wait
	// forever).
	if r := c.raw(message(tFlush, 50, enc(nil).u16(50)), 64); r.typ != tFlush+1 || r.tag != 50 {
		t.Errorf("a Tflush of itself: type %d tag %d", r.typ, r.tag)
	}
	// Extended attributes: the share has none, and says so with
	// EOPNOTSUPP (overlayfs over a 9p lower layer treats EINVAL as broken).
	c.fails(msgTxattrwalk, enc(nil).u32(1).u32(60).str("trusted.overlay.metacopy"), unix.EOPNOTSUPP)
	// The device still works, and said what was wrong once per kind.
	c.ok(tGetattr, enc(nil).u32(1).u64(0x3fff))
	if s := c.d.Read32(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
		t.Errorf("malformed messages broke the device (status %#x)", s)
	}
}

func (e enc) append(b ...byte) enc { return append(e, b...) }

// TestNinepConcurrent: many requests in flight at once are all answered,
// each with its own tag.
func TestNinepConcurrent(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", bytes.Repeat([]byte{7}, 1<<16))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(0))
	outs := map[uint16]uint64{}
	for tag := uint16(100); tag < 108; tag++ { // two descriptors each: the queue of 16 holds 8
		outs[tag] = c.submit(message(tRead, tag, enc(nil).u32(2).u64(uint64(tag)*100).u32(4096)), 4096+11)
	}
	c.d.Kick()
	used := c.d.Wait(len(outs))
	seen := map[uint16]bool{}
	for _, u := range used {
		if u.Len != 4096+11 {
			t.Errorf("an answer of %d bytes", u.Len)
		}
		seen[uint16(u.Head)] = true
	}
	for tag, gpa := range outs {
		b := make([]byte, 11)
		c.d.Mem.Read(gpa, b)
		if b[4] != tRead+1 || binary.LittleEndian.Uint16(b[5:]) != tag {
			t.Errorf("the answer for tag %d is type %d tag %d", tag, b[4], binary.LittleEndian.Uint16(b[5:]))
		}
	}
}

// TestNinepBadChains: every kind of malformed chain breaks the queue
// without touching anything, and the device works after a reset.
func TestNinepBadChains(t *testing.T) {
	for _, tc := range virtiotest.BadChains() {
		t.Run(tc.Name, func(t *testing.T) {
			dir := t.TempDir()
			hostFile(t, dir, "f", []byte("x"))
			c := newClient(t, dir, false)
			c.d.Setup(16, tc.Drop)
			tc.Make(c.d)
			c.d.Kick()
			c.d.WaitStatus(virtio.StatusDeviceNeedsReset)
			c.d.Setup(16, tc.Drop)
			c.attach(1)
			c.walk(1, 2, "f")
		})
	}
}

// TestNinepPause: a request kicked while the device is paused is not
// answered until Resume; Close of a paused device returns.
func TestNinepPause(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, dir, false)
	share, _ := OpenShare(dir, Options{})
	dev, _ := New("virtio-9p1", "p", share, nil)
	d := virtiotest.NewFromSpec(t, virtio.Spec("virtio-9p1", virtio.Modern, dev), nil)
	d.Setup(16, 0)
	c.d, c.dev = d, dev
	c.attach(1)
	d.Pause()
	c.submit(message(tGetattr, 40, enc(nil).u32(1).u64(0x3fff)), 256)
	d.Kick()
	time.Sleep(50 * time.Millisecond)
	if d.UsedIdx() != 2 {
		t.Errorf("a paused device answered (used index %d)", d.UsedIdx())
	}
	d.Resume()
	d.Wait(1)
	d.Pause()
	c.submit(message(tGetattr, 41, enc(nil).u32(1).u64(0x3fff)), 256)
	d.Kick()
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close of a paused device does not return")
	}
}
