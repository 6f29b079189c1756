package ninep

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests below drive the device as a hostile guest would, against
// what a share must never let it do to the host or to gokvm.

// TestShareStaysOnItsMount: a share of / does not reach /proc, /sys or
// /dev (another process's memory, every environment, the host's devices):
// the walk finds nothing there (ENOENT), and what is on the share's own file
// system is still there.
func TestShareStaysOnItsMount(t *testing.T) {
	c := newClient(t, "/", true)
	c.attach(1)
	for _, name := range []string{"proc", "sys", "dev"} {
		if r := c.walk(1, 2, name); r.errno() != unix.ENOENT {
			t.Errorf("walk to /%s: answer type %d errno %v, want ENOENT", name, r.typ, r.errno())
		}
	}
	// The root directory itself is the share's own mount.
	c.ok(tGetattr, enc(nil).u32(1).u64(0x3fff))
}

// TestShareListedMount: a mount below the share is entered only when the
// share lists it, and a kernel file system cannot be listed.
func TestShareListedMount(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mounting a tmpfs for the test needs root: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	hostFile(t, sub, "f", []byte("on the mount"))

	c := newClient(t, dir, false)
	c.attach(1)
	if r := c.walk(1, 2, "sub"); r.errno() != unix.ENOENT {
		t.Errorf("walk to an unlisted mount: answer type %d errno %v, want ENOENT", r.typ, r.errno())
	}

	c = newClientWith(t, dir, Options{Mounts: []string{sub}}, 16)
	c.attach(1)
	if r := c.walk(1, 2, "sub", "f"); r.typ != msgRwalk {
		t.Fatalf("walk into a listed mount: answer type %d errno %v", r.typ, r.errno())
	}
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	if got := c.readFile(2, 0, 100); string(got) != "on the mount" {
		t.Errorf("read %q", got)
	}

	for _, m := range []string{"/proc", "/sys"} {
		_, err := OpenShare("/", Options{Mounts: []string{m}})
		if err == nil || !strings.Contains(err.Error(), m) {
			t.Errorf("a share listing %s: error %v, want one naming it", m, err)
		}
	}
}

// TestXattrCreateRefused: Txattrcreate is answered by the device, so the
// attribute's writes (100 MiB grew gokvm's heap by as much before) are
// never buffered: EOPNOTSUPP, and the fid takes no write.
func TestXattrCreateRefused(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("x"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.fails(tXattrcr, enc(nil).u32(2).str("user.big").u64(100<<20).u32(0), unix.EOPNOTSUPP)
	if r := c.rpc(tWrite, enc(nil).u32(2).u64(0).u32(4).u32(0)); r.typ != msgRlerror {
		t.Errorf("a Twrite on the fid after a refused Txattrcreate: answer type %d", r.typ)
	}
}

// TestLongNamesRefused: a name longer than 255 bytes never reaches the
// server, in any message that carries one.
func TestLongNamesRefused(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, dir, false)
	c.attach(1)
	long := strings.Repeat("n", maxNameLen+1)
	c.fails(tUnlinkat, enc(nil).u32(1).str(long).u32(0), unix.ENAMETOOLONG)
	c.fails(tMkdir, enc(nil).u32(1).str(long).u32(0o755).u32(0), unix.ENAMETOOLONG)
	c.fails(tLcreate, enc(nil).u32(1).str(long).u32(0).u32(0o644).u32(0), unix.ENAMETOOLONG)
	c.fails(tRenameat, enc(nil).u32(1).str("a").u32(1).str(long), unix.ENAMETOOLONG)
	c.fails(tWalk, enc(nil).u32(1).u32(2).u16(1).str(long), unix.ENAMETOOLONG)
	c.fails(tSymlink, enc(nil).u32(1).str("l").str(strings.Repeat("t", maxTargetLen+1)).u32(0), unix.ENAMETOOLONG)
	// 255 bytes is a name.
	ok := strings.Repeat("n", maxNameLen)
	c.ok(tMkdir, enc(nil).u32(1).str(ok).u32(0o755).u32(0))
	c.ok(tUnlinkat, enc(nil).u32(1).str(ok).u32(unix.AT_REMOVEDIR))
	if _, err := os.Stat(filepath.Join(dir, ok)); !os.IsNotExist(err) {
		t.Errorf("the 255-byte directory is still there: %v", err)
	}
}

// TestRefusedUnlinksLeaveNothing: unlinking thousands of names that do
// not exist must not grow gokvm's heap (p9's server kept a path node for
// each one). A real unlink still works, and a missing name is ENOENT.
func TestRefusedUnlinksLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "real", []byte("x"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.reuse(512, 8192)
	name := func(i int) string {
		return strings.Repeat("u", maxNameLen-8) + strings.Repeat("0", 8-len(strconv.Itoa(i))) + strconv.Itoa(i)
	}
	unlinks := func(from, to int) {
		for i := from; i < to; i++ {
			c.fails(tUnlinkat, enc(nil).u32(1).str(name(i)).u32(0), unix.ENOENT)
		}
	}
	unlinks(0, 500) // warm up the server's goroutines and pools
	before := heapInUse()
	const n = 3000
	unlinks(500, 500+n)
	grew := heapInUse() - before
	t.Logf("%d refused unlinks: the heap grew by %d bytes", n, grew)
	// A node per name was some 500 bytes: 1.5 MB for these.
	if grew > 512<<10 {
		t.Errorf("%d refused unlinks grew the heap by %d bytes", n, grew)
	}
	// Names too long to be names: 200 of 60000 bytes were 12 MB of
	// nodes.
	c.reuse(61000, 8192)
	before = heapInUse()
	for i := 0; i < 200; i++ {
		long := strings.Repeat("L", 60000-len(strconv.Itoa(i))) + strconv.Itoa(i)
		c.fails(tUnlinkat, enc(nil).u32(1).str(long).u32(0), unix.ENAMETOOLONG)
	}
	if grew := heapInUse() - before; grew > 512<<10 {
		t.Errorf("200 unlinks of 60000-byte names grew the heap by %d bytes", grew)
	}
	c.ok(tUnlinkat, enc(nil).u32(1).str("real").u32(0))
	if _, err := os.Stat(filepath.Join(dir, "real")); !os.IsNotExist(err) {
		t.Errorf("the real unlink left the file: %v", err)
	}
	// The device's own fid is the guest's to make never.
	c.fails(tWalk, enc(nil).u32(1).u32(reservedFid).u16(0), unix.EINVAL)
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestFidsBounded: each share holds at most its MaxFiles descriptors; a
// guest that walks without clunking gets EMFILE, not gokvm's last
// descriptor, and has them back once it clunks. The shares of the process
// together leave a reserve for the rest of gokvm.
func TestFidsBounded(t *testing.T) {
	dir := t.TempDir()
	c := newClientWith(t, dir, Options{MaxFiles: 40}, 16)
	c.attach(1)
	c.reuse(512, 8192)
	fid := uint32(2)
	for ; fid < 1000; fid++ {
		r := c.walk(1, fid)
		if r.errno() == unix.EMFILE {
			break
		}
		if r.typ != msgRwalk {
			t.Fatalf("walk %d: answer type %d errno %v", fid, r.typ, r.errno())
		}
	}
	if fid == 1000 {
		t.Fatal("999 walks and no EMFILE")
	}
	if held := c.dev.share.files.inUse(); held > 40 {
		t.Errorf("the share holds %d descriptors, more than its 40", held)
	}
	for f := uint32(2); f < fid; f++ {
		c.ok(tClunk, enc(nil).u32(f))
	}
	if r := c.walk(1, 2); r.typ != msgRwalk {
		t.Errorf("a walk after clunking: answer type %d errno %v", r.typ, r.errno())
	}

	// The process-wide budget: as if RLIMIT_NOFILE left room for 5 more.
	processFiles.Lock()
	saved := processFiles.limit
	processFiles.limit = processFiles.used + 5
	processFiles.Unlock()
	defer func() {
		processFiles.Lock()
		processFiles.limit = saved
		processFiles.Unlock()
	}()
	got := 0
	for f := uint32(100); f < 200; f++ {
		if r := c.walk(1, f); r.errno() == unix.EMFILE {
			break
		}
		got++
	}
	if got != 5 {
		t.Errorf("%d walks within the process's budget of 5", got)
	}
}

// TestFilesClosedOnReset: a reset gives back every descriptor the
// guest's fids held.
func TestFilesClosedOnReset(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("x"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	if c.dev.share.files.inUse() == 0 {
		t.Fatal("an open fid holds no descriptor in the count")
	}
	c.dev.Reset()
	if n := c.dev.share.files.inUse(); n != 0 {
		t.Errorf("%d descriptors still counted after a reset", n)
	}
}

// TestInFlightBounded: a driver that makes 200 requests available at once
// at the largest msize gets at most maxInFlightBytes/msize of them taken
// at a time; the rest wait in its ring, and all are answered.
func TestInFlightBounded(t *testing.T) {
	dir := t.TempDir()
	c := newClientWith(t, dir, Options{}, 256)
	c.attach(1)
	const n = 200
	outs := make([]uint64, n)
	for i := range outs {
		outs[i] = c.submit(message(tGetattr, uint16(1000+i), enc(nil).u32(1).u64(0x3fff)), 256)
	}
	c.d.Kick()
	used := c.d.Wait(n)
	for _, u := range used {
		if r := c.read(outs[0], u); r.typ == msgRlerror && r.errno() != 0 {
			t.Fatalf("a Tgetattr failed: %v", r.errno())
		}
	}
	c.dev.run.Lock()
	peak, limit := c.dev.sess.peak, maxInFlightBytes/MaxMsize
	c.dev.run.Unlock()
	if peak > limit {
		t.Errorf("%d requests in progress at once, more than %d", peak, limit)
	}
}

// TestResetDropsBacklog: a reset with a full queue of requests returns
// without serving the ones the server has not read.
func TestResetDropsBacklog(t *testing.T) {
	dir := t.TempDir()
	c := newClientWith(t, dir, Options{}, 256)
	c.attach(1)
	for i := 0; i < 250; i++ {
		c.submit(message(tGetattr, uint16(1000+i), enc(nil).u32(1).u64(0x3fff)), 256)
	}
	c.d.Kick()
	done := make(chan struct{})
	go func() { c.dev.Reset(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a reset with 250 requests queued did not return in 10 s")
	}
}

// TestSecondOpenRefused: opening an open file again is refused by the
// share itself, so two Tlopens at once cannot close a descriptor under a
// read in progress.
func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("x"))
	s, err := OpenShare(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	root, err := s.Attach()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, f, err := root.Walk([]string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := f.Open(0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Open(0); err != unix.EINVAL {
		t.Errorf("a second Open: %v, want EINVAL", err)
	}
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	c.fails(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY), unix.EINVAL)
}

// TestVersionEndsFids: a Tversion starts a new session: the fids of the
// old one are gone (and their descriptors closed).
func TestVersionEndsFids(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("x"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	r := c.raw(message(tVersion, noTag, enc(nil).u32(65536).str("9P2000.L")), 64)
	if r.typ != msgRversion {
		t.Fatalf("Tversion: answer type %d", r.typ)
	}
	c.fails(tGetattr, enc(nil).u32(1).u64(0x3fff), unix.EBADF)
	c.fails(tRead, enc(nil).u32(2).u64(0).u32(10), unix.EBADF)
	if n := c.dev.share.files.inUse(); n != 0 {
		t.Errorf("%d descriptors still held after the Tversion", n)
	}
	c.ok(tAttach, enc(nil).u32(1).u32(noFID).str("root").str("").u32(0))
}

// TestRootChmodKeepsOthersOut: the guest may take permissions away from
// the share's root, never give them to the host's other users.
func TestRootChmodKeepsOthersOut(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	c := newClient(t, dir, false)
	c.attach(1)
	setMode := func(mode uint32) reply {
		return c.rpc(tSetattr, enc(nil).u32(1).u32(0x1).u32(mode).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0))
	}
	if r := setMode(0o777); r.errno() != unix.EPERM {
		t.Errorf("chmod 0777 of the share's root: answer type %d errno %v, want EPERM", r.typ, r.errno())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("the share's root is now %v", fi.Mode().Perm())
	}
	if r := setMode(0o500); r.typ != 27 {
		t.Errorf("chmod 0500 of the share's root: answer type %d errno %v", r.typ, r.errno())
	}
	os.Chmod(dir, 0o700)
	// Below the root, the guest's files are its own.
	c.ok(tMkdir, enc(nil).u32(1).str("d").u32(0o700).u32(0))
	c.walk(1, 2, "d")
	if r := c.rpc(tSetattr, enc(nil).u32(2).u32(0x1).u32(0o755).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0)); r.typ != 27 {
		t.Errorf("chmod of a directory below the root: answer type %d errno %v", r.typ, r.errno())
	}
}

// TestListedMountsByDevice: on a kernel without mount IDs a listed mount
// is told by its device number, and a kernel file system by its magic.
func TestListedMountsByDevice(t *testing.T) {
	l := &listedMounts{ids: map[uint64]bool{}, devs: map[uint64]bool{}}
	for _, tc := range []struct {
		path string
		bad  bool
	}{{"/proc", true}, {"/sys", true}, {t.TempDir(), false}} {
		fd, err := unix.Open(tc.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = l.add(fd, true)
		unix.Close(fd)
		if (err != nil) != tc.bad {
			t.Errorf("listing %s by device: %v", tc.path, err)
		}
	}
	if len(l.devs) != 1 {
		t.Errorf("%d devices listed, want the temporary directory's", len(l.devs))
	}
}
