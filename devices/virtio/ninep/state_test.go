package ninep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
	"golang.org/x/sys/unix"
)

// TestStateGoesOn: a guest that mounted the share, walked, opened files
// for reading and writing, created one and read part of another is saved
// and restored onto a fresh device (a fresh 9P server) serving the same
// directory: its fids work as they did. Reads go on from where the guest
// asks (9P reads carry their offset), writes reach the host, walks from
// saved fids work, a clunk ends a fid, and the negotiated msize holds.
func TestStateGoesOn(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	hostFile(t, dir, "f.txt", data)
	hostFile(t, dir, "w.txt", []byte("0123456789"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	hostFile(t, filepath.Join(dir, "sub"), "g", []byte("gee"))

	c := newClient(t, dir, false)
	c.version(65536)
	c.ok(tAttach, enc(nil).u32(1).u32(noFID).str("root").str("").u32(0))
	c.walk(1, 2, "f.txt")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	if got := c.readFile(2, 0, 100); !bytes.Equal(got, data[:100]) {
		t.Fatalf("read %q", got)
	}
	c.walk(1, 3, "sub")
	c.walk(1, 4, "w.txt")
	c.ok(tLopen, enc(nil).u32(4).u32(unix.O_RDWR))
	c.write(4, 0, "ab")
	c.walk(1, 5)
	c.ok(tLcreate, enc(nil).u32(5).str("new.txt").u32(unix.O_RDWR|unix.O_CREAT|unix.O_EXCL).u32(0o644).u32(0))
	c.write(5, 0, "hello")
	c.walk(3, 6, "g")
	c.ok(tMkdir, enc(nil).u32(3).str("made").u32(0o755).u32(0))
	c.walk(3, 7, "made")
	c.ok(tLopen, enc(nil).u32(7).u32(unix.O_RDONLY|unix.O_DIRECTORY))

	st := c.save()
	s := savedSession(t, st)
	if s.Msize != 65536 || s.Version != "9P2000.L" || s.Tag != "share" || len(s.Fids) != 7 || len(s.Attaches) != 1 {
		t.Errorf("saved session: %+v", s)
	}
	if f := s.fid(6); f == nil || strings.Join(f.Path, "/") != "sub/g" || f.Open || f.Lost {
		t.Errorf("saved fid 6: %+v", f)
	}
	if f := s.fid(5); f == nil || strings.Join(f.Path, "/") != "new.txt" || !f.Open || f.Flags&3 != unix.O_RDWR {
		t.Errorf("saved fid 5: %+v", f)
	}
	n, lines := c.restore(st, dir, Options{})

	// The read goes on: its offset is the guest's.
	if got := n.readFile(2, 100, 100); !bytes.Equal(got, data[100:200]) {
		t.Errorf("read after the restore: %q", got)
	}
	n.write(4, 2, "cd")
	if b, _ := os.ReadFile(filepath.Join(dir, "w.txt")); string(b) != "abcd456789" {
		t.Errorf("w.txt is %q after writes on both sides of the restore", b)
	}
	if got := n.readFile(5, 0, 100); string(got) != "hello" {
		t.Errorf("the created file reads %q", got)
	}
	n.write(5, 5, " world")
	if b, _ := os.ReadFile(filepath.Join(dir, "new.txt")); string(b) != "hello world" {
		t.Errorf("new.txt is %q", b)
	}
	n.ok(tLopen, enc(nil).u32(6).u32(unix.O_RDONLY))
	if got := n.readFile(6, 0, 100); string(got) != "gee" {
		t.Errorf("sub/g, opened after the restore, reads %q", got)
	}
	if r := n.walk(3, 8, "g"); r.typ != msgRwalk {
		t.Errorf("a walk from the saved fid of sub: errno %v", r.errno())
	}
	if r := n.walk(1, 9, "sub", "made"); r.typ != msgRwalk {
		t.Errorf("a walk from the saved root fid: errno %v", r.errno())
	}
	if r := n.ok(tReaddir, enc(nil).u32(7).u64(0).u32(4096)); binary.LittleEndian.Uint32(r.body) == 0 {
		t.Errorf("readdir of the directory opened before the save: nothing")
	}
	n.ok(tClunk, enc(nil).u32(2))
	n.fails(tRead, enc(nil).u32(2).u64(0).u32(10), unix.EBADF)
	// The msize the guest negotiated: a request past it is refused.
	big := message(tWrite, 77, enc(nil).u32(4).u64(0).u32(70000).append(make([]byte, 70000)...))
	if r := n.raw(big, 64); r.errno() != unix.EMSGSIZE {
		t.Errorf("a request larger than the saved msize: errno %v", r.errno())
	}
	if l := lines.String(); strings.Contains(l, "reopened") || strings.Contains(l, "another directory") {
		t.Errorf("the restore logged %q", l)
	}
}

// TestStateHostChanges: files removed or replaced on the host between
// the save and the restore give an error on the guest's fids for them,
// never another file, and nothing else breaks; the log says how many.
func TestStateHostChanges(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"gone", "replaced", "keep"} {
		hostFile(t, dir, f, []byte(f))
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	hostFile(t, filepath.Join(dir, "d"), "x", []byte("x"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "gone")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	c.walk(1, 3, "replaced")
	c.walk(1, 4, "d", "x")
	c.walk(1, 5, "keep")
	c.ok(tLopen, enc(nil).u32(5).u32(unix.O_RDONLY))
	st := c.save()

	os.Remove(filepath.Join(dir, "gone"))
	hostFile(t, dir, "replaced.new", []byte("another file"))
	os.Rename(filepath.Join(dir, "replaced.new"), filepath.Join(dir, "replaced"))
	os.RemoveAll(filepath.Join(dir, "d"))

	n, lines := c.restore(st, dir, Options{})
	n.fails(tRead, enc(nil).u32(2).u64(0).u32(10), unix.EBADF)
	for _, fid := range []uint32{3, 4} {
		if _, err := n.getattrQID(fid); err != unix.EBADF {
			t.Errorf("fid %d, whose file is gone or another: getattr %v, want EBADF", fid, err)
		}
	}
	if got := n.readFile(5, 0, 10); string(got) != "keep" {
		t.Errorf("keep reads %q", got)
	}
	// The new file is there by its name.
	n.walk(1, 6, "replaced")
	n.ok(tLopen, enc(nil).u32(6).u32(unix.O_RDONLY))
	if got := n.readFile(6, 0, 100); string(got) != "another file" {
		t.Errorf("replaced, walked afresh, reads %q", got)
	}
	if l := lines.String(); !strings.Contains(l, "3 of the 5 saved fids could not be reopened") {
		t.Errorf("the log says %q", l)
	}
}

// TestStateByteNames: a file name that is not UTF-8 (which a JSON string
// cannot hold) is saved as bytes and found again.
func TestStateByteNames(t *testing.T) {
	dir := t.TempDir()
	name := "caf\xe9"
	os.Mkdir(filepath.Join(dir, name), 0o755)
	hostFile(t, filepath.Join(dir, name), "f", []byte("bytes"))
	c := newClient(t, dir, false)
	c.ok(tVersion, enc(nil).u32(65536).str("9P2000.L"))
	c.ok(tAttach, enc(nil).u32(1).u32(noFID).str("\xff").str("").u32(0))
	c.walk(1, 2, name, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	st := c.save()
	saved := savedSession(t, st)
	if f := saved.fid(2); f == nil || f.Path != nil || len(f.RawPath) != 2 || string(f.RawPath[0]) != name {
		t.Errorf("saved fid 2: %+v", f)
	}
	if a := saved.Attaches[0]; string(a.RawUname) != "\xff" || a.Uname != "" {
		t.Errorf("saved attach: %+v", a)
	}
	n, lines := c.restore(st, dir, Options{})
	if got := n.readFile(2, 0, 10); string(got) != "bytes" {
		t.Errorf("read %q (log %q)", got, lines.String())
	}
}

// TestStateOtherDirectory: restored onto a copy of the directory, the
// fids are found by their names.
func TestStateOtherDirectory(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	hostFile(t, dir, "f", []byte("saved"))
	hostFile(t, dir2, "f", []byte("copied"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	n, lines := c.restore(c.save(), dir2, Options{})
	if got := n.readFile(2, 0, 100); string(got) != "copied" {
		t.Errorf("f reads %q", got)
	}
	if l := lines.String(); !strings.Contains(l, "another directory") || strings.Contains(l, "could not") {
		t.Errorf("the log says %q", l)
	}
}

// TestStateRename: renames before the save are followed: a fid below a
// renamed directory, a file moved by Trename, and a fid whose file a
// rename replaced, which is lost.
func TestStateRename(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "dir"), 0o755)
	hostFile(t, filepath.Join(dir, "dir"), "file", []byte("in dir"))
	hostFile(t, dir, "x", []byte("x"))
	hostFile(t, dir, "victim", []byte("victim"))
	hostFile(t, dir, "z", []byte("z"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "dir", "file")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	c.ok(tRenameat, enc(nil).u32(1).str("dir").u32(1).str("dir2"))
	c.walk(1, 3, "dir2")
	c.walk(1, 4, "x")
	c.ok(20, enc(nil).u32(4).u32(3).str("y")) // Trename x -> dir2/y
	c.walk(1, 5, "victim")
	c.ok(tRenameat, enc(nil).u32(1).str("z").u32(1).str("victim"))
	c.walk(1, 6, "victim")
	st := c.save()
	s := savedSession(t, st)
	for fid, want := range map[uint32]string{2: "dir2/file", 3: "dir2", 4: "dir2/y", 6: "victim"} {
		if f := s.fid(fid); f == nil || f.Lost || strings.Join(f.Path, "/") != want {
			t.Errorf("saved fid %d: %+v, want path %s", fid, f, want)
		}
	}
	if f := s.fid(5); f == nil || !f.Lost {
		t.Errorf("saved fid 5, whose file a rename replaced: %+v, want lost", f)
	}
	n, _ := c.restore(st, dir, Options{})
	if got := n.readFile(2, 0, 100); string(got) != "in dir" {
		t.Errorf("dir2/file reads %q", got)
	}
	n.ok(tLopen, enc(nil).u32(4).u32(unix.O_RDONLY))
	if got := n.readFile(4, 0, 100); string(got) != "x" {
		t.Errorf("dir2/y reads %q", got)
	}
	if _, err := n.getattrQID(5); err != unix.EBADF {
		t.Errorf("the replaced victim's fid: getattr %v, want EBADF", err)
	}
	n.ok(tLopen, enc(nil).u32(6).u32(unix.O_RDONLY))
	if got := n.readFile(6, 0, 100); string(got) != "z" {
		t.Errorf("victim, as z became it, reads %q", got)
	}
}

// TestStateRemovedWhileOpen: a file removed while the guest has it open
// (Tunlinkat, or Tremove of another fid of it) cannot be reopened: its fid
// is saved lost, and fails after the restore; so do fids below a removed
// directory. An extended attribute walk makes no fid to save.
func TestStateRemovedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "tmp", []byte("scratch"))
	hostFile(t, dir, "tmp2", []byte("scratch"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "tmp")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDWR))
	c.ok(tUnlinkat, enc(nil).u32(1).str("tmp").u32(0))
	c.walk(1, 3, "tmp2")
	c.ok(tLopen, enc(nil).u32(3).u32(unix.O_RDONLY))
	c.walk(1, 4, "tmp2")
	c.ok(tRemove, enc(nil).u32(4))
	c.fails(tXattrwalk, enc(nil).u32(1).u32(5).str("user.x"), unix.EOPNOTSUPP)
	c.ok(tMkdir, enc(nil).u32(1).str("d").u32(0o755).u32(0))
	c.walk(1, 6, "d")
	c.walk(6, 7)
	c.ok(tUnlinkat, enc(nil).u32(1).str("d").u32(unix.AT_REMOVEDIR))
	st := c.save()
	s := savedSession(t, st)
	for _, fid := range []uint32{2, 3, 6, 7} {
		if f := s.fid(fid); f == nil || !f.Lost {
			t.Errorf("saved fid %d: %+v, want lost", fid, f)
		}
	}
	if s.fid(4) != nil || s.fid(5) != nil {
		t.Errorf("saved fids 4 (removed) or 5 (an xattr walk refused): %+v", s.Fids)
	}
	n, lines := c.restore(st, dir, Options{})
	n.fails(tRead, enc(nil).u32(2).u64(0).u32(10), unix.EBADF)
	n.fails(tRead, enc(nil).u32(3).u64(0).u32(10), unix.EBADF)
	n.ok(tGetattr, enc(nil).u32(1).u64(0x3fff))
	if l := lines.String(); !strings.Contains(l, "4 of the 5 saved fids") {
		t.Errorf("the log says %q", l)
	}
}

// TestStateVersion: a Tversion starts a new session with no fids; a
// restored device gives the server the saved version and msize.
func TestStateVersion(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2)
	c.version(16384)
	c.d.Pause()
	s := savedSession(t, c.d.MustSave())
	if len(s.Fids) != 0 || s.Msize != 16384 {
		t.Errorf("saved after a second Tversion: %+v", s)
	}
	c.d.Resume()
	c.ok(tAttach, enc(nil).u32(1).u32(noFID).str("u").str("/").u32(7))
	n, _ := c.restore(c.save(), dir, Options{})
	n.ok(tGetattr, enc(nil).u32(1).u64(0x3fff))
	if r := n.raw(message(tWrite, 5, enc(nil).u32(1).u64(0).u32(20000).append(make([]byte, 20000)...)), 64); r.errno() != unix.EMSGSIZE {
		t.Errorf("a request larger than the saved msize: errno %v", r.errno())
	}
}

// TestStateReadOnlyRestore: a share's read-only option is the restored
// machine's: a fid open for writing is not reopened on a read-only
// share, one open for reading is.
func TestStateReadOnlyRestore(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("data"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDWR))
	c.walk(1, 3, "f")
	c.ok(tLopen, enc(nil).u32(3).u32(unix.O_RDONLY))
	n, lines := c.restore(c.save(), dir, Options{ReadOnly: true})
	n.fails(tWrite, enc(nil).u32(2).u64(0).u32(1).u8('x'), unix.EBADF)
	if got := n.readFile(3, 0, 10); string(got) != "data" {
		t.Errorf("read %q", got)
	}
	if l := lines.String(); !strings.Contains(l, "1 of the 3 saved fids") {
		t.Errorf("the log says %q", l)
	}
}

// TestStateDeepPath: a fid deeper than one walk's 16 names is reopened
// in several walks.
func TestStateDeepPath(t *testing.T) {
	dir := t.TempDir()
	var names []string
	p := dir
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("d%d", i))
		p = filepath.Join(p, names[i])
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	hostFile(t, p, "leaf", []byte("deep"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, names[:16]...)
	c.walk(2, 2, names[16:32]...)
	c.walk(2, 3, append(names[32:], "leaf")...)
	c.ok(tLopen, enc(nil).u32(3).u32(unix.O_RDONLY))
	c.ok(tClunk, enc(nil).u32(2))
	st := c.save()
	saved := savedSession(t, st)
	if f := saved.fid(3); f == nil || len(f.Path) != 41 {
		t.Fatalf("saved fid 3: %+v", f)
	}
	n, lines := c.restore(st, dir, Options{})
	if got := n.readFile(3, 0, 10); string(got) != "deep" {
		t.Errorf("read %q (log %q)", got, lines.String())
	}
}

// TestStateNotRunning: a device the driver never started saves no session,
// and restores into one that is not running either.
func TestStateNotRunning(t *testing.T) {
	dir := t.TempDir()
	share, _ := OpenShare(dir, Options{})
	dev, _ := New("virtio-9p0", "share", share, nil)
	t.Cleanup(func() { dev.Close() })
	b, err := dev.SaveDeviceState()
	if err != nil {
		t.Fatal(err)
	}
	share2, _ := OpenShare(dir, Options{})
	dev2, _ := New("virtio-9p0", "share", share2, nil)
	t.Cleanup(func() { dev2.Close() })
	if err := dev2.RestoreDeviceState(b); err != nil {
		t.Errorf("restoring the state of a device never started (%s): %v", b, err)
	}
	// A session given to a device the transport does not activate (it
	// was saved needing a reset) is not the one a driver that starts it
	// afterwards gets: that is fresh.
	if err := dev2.RestoreDeviceState([]byte(`{"Tag":"share","Msize":8192,"Version":"9P2000.L","Attaches":[{}],"Fids":[{"Fid":5}]}`)); err != nil {
		t.Fatal(err)
	}
	c := newClientOn(t, dev2)
	if r := c.rpc(tGetattr, enc(nil).u32(5).u64(0x3fff)); r.errno() != unix.EBADF {
		t.Errorf("a fid of a session the driver's activation should not have: answer type %d errno %v", r.typ, r.errno())
	}
	c.attach(1)
}

// TestStateBlockedRequest: a request the server does not answer (a read
// blocked on the host) does not hang the pause: Drain gives up after its
// bound, and the save is refused naming the share. Once the request ends
// and the device is paused again, the save works and the answer is the
// guest's, not lost.
func TestStateBlockedRequest(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "slow", []byte("slow data"))
	share, _ := OpenShare(dir, Options{})
	lines := &logLines{}
	dev, _ := New("virtio-9p0", "share", share, log.New(lines, "", 0))
	slow := &slowShare{Share: share, started: make(chan struct{}, 1), release: make(chan struct{})}
	dev.serve = slow
	dev.drainWait = 100 * time.Millisecond
	c := newClientOn(t, dev)
	c.attach(1)
	c.walk(1, 2, "slow")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	out := c.submit(message(tRead, 50, enc(nil).u32(2).u64(0).u32(100)), 200)
	c.d.Kick()
	<-slow.started

	start := time.Now()
	c.d.Pause()
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("Pause took %v with a request blocked (Drain waits 100ms)", d)
	}
	_, err := c.d.Save()
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "1 request still in progress") {
		t.Errorf("saving with a request blocked: %v, want an error naming the share and the request", err)
	}
	if errors.Is(err, vmm.ErrNotSaveable) {
		t.Errorf("a request in progress is not for ever: %v should not be ErrNotSaveable", err)
	}
	if !strings.Contains(lines.String(), "1 request still in progress") {
		t.Errorf("the log says %q", lines.String())
	}
	close(slow.release)
	time.Sleep(20 * time.Millisecond)
	if c.d.Pending() != 0 {
		t.Errorf("a paused device returned a chain")
	}
	c.d.Resume()
	if r := c.read(out, c.d.Wait(1)[0]); r.typ != tRead+1 || r.tag != 50 {
		t.Errorf("the blocked read's answer: type %d tag %d", r.typ, r.tag)
	}
	n, _ := c.restore(c.save(), dir, Options{})
	if got := n.readFile(2, 5, 100); string(got) != "data" {
		t.Errorf("read after the restore: %q", got)
	}
}

// TestStateInFlightDrained: a request in progress when the machine pauses
// is answered before Pause returns, its chain returned in the saved
// rings; the restored device neither loses nor repeats it.
func TestStateInFlightDrained(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "slow", []byte("slow data"))
	share, _ := OpenShare(dir, Options{})
	dev, _ := New("virtio-9p0", "share", share, nil)
	slow := &slowShare{Share: share, started: make(chan struct{}, 1), release: make(chan struct{})}
	dev.serve = slow
	c := newClientOn(t, dev)
	c.attach(1)
	c.walk(1, 2, "slow")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	used := c.d.UsedIdx()
	out := c.submit(message(tRead, 60, enc(nil).u32(2).u64(0).u32(4)), 200)
	c.d.Kick()
	<-slow.started
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(slow.release)
	}()
	st := c.save()
	if c.d.UsedIdx() != used+1 {
		t.Fatalf("Pause returned with the request in flight not returned (used index %d, was %d)", c.d.UsedIdx(), used)
	}
	n, _ := c.restore(st, dir, Options{})
	if r := n.read(out, n.d.Wait(1)[0]); r.typ != tRead+1 || string(r.body[4:]) != "slow" {
		t.Errorf("the answer returned before the save: type %d body %q", r.typ, r.body)
	}
	time.Sleep(50 * time.Millisecond)
	if n.d.Pending() != 0 || n.d.UsedIdx() != used+1 {
		t.Errorf("the restored device returned another chain (used index %d)", n.d.UsedIdx())
	}
	n.ok(tGetattr, enc(nil).u32(2).u64(0x3fff))
}

// TestStateRequestNotTaken: a request the driver made available while the
// machine was paused is not taken by the saved device; the restored one
// serves it once its fids are back.
func TestStateRequestNotTaken(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "f", []byte("f"))
	c := newClient(t, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.d.Pause()
	c.tag++
	out := c.submit(message(tGetattr, c.tag, enc(nil).u32(2).u64(0x3fff)), 256)
	c.d.Kick()
	time.Sleep(20 * time.Millisecond)
	st := c.d.MustSave()
	c.d.Close()
	if c.d.Pending() != 0 {
		t.Fatalf("the paused device took and answered a request")
	}
	n, _ := c.restore(st, dir, Options{})
	if r := n.read(out, n.d.Wait(1)[0]); r.typ != tGetattr+1 {
		t.Errorf("the request made before the save: answer type %d errno %v", r.typ, r.errno())
	}
}

// TestStateTagMismatch: a state restores only onto the share with the
// saved tag.
func TestStateTagMismatch(t *testing.T) {
	dir := t.TempDir()
	c := newClient(t, dir, false)
	c.attach(1)
	st := c.save()
	share, _ := OpenShare(dir, Options{})
	dev, _ := New("virtio-9p0", "other", share, nil)
	t.Cleanup(func() { dev.Close() })
	_, err := c.d.Restore(virtio.Modern, dev, st)
	if err == nil || !strings.Contains(err.Error(), `"share"`) || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("restoring a share's state onto another tag: %v, want an error naming both", err)
	}
}

// TestStateBrokenDevice: a device the driver broke while a request was
// in progress never returns that chain (the driver's reset takes it
// back): the pause does not wait for it, the save works, and the
// restored device needs a reset, after which it serves afresh.
func TestStateBrokenDevice(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "slow", []byte("slow data"))
	share, _ := OpenShare(dir, Options{})
	dev, _ := New("virtio-9p0", "share", share, nil)
	slow := &slowShare{Share: share, started: make(chan struct{}, 1), release: make(chan struct{})}
	dev.serve = slow
	c := newClientOn(t, dev)
	c.attach(1)
	c.walk(1, 2, "slow")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	c.submit(message(tRead, 50, enc(nil).u32(2).u64(0).u32(100)), 200)
	c.d.Kick()
	<-slow.started
	virtiotest.BadChains()[0].Make(c.d)
	c.d.Kick()
	c.d.WaitNeedsReset()
	close(slow.release)
	start := time.Now()
	st := c.save()
	if d := time.Since(start); d > time.Second {
		t.Errorf("the pause of a broken device took %v", d)
	}
	n, _ := c.restore(st, dir, Options{})
	if !n.d.NeedsReset() {
		t.Errorf("the restored device does not need a reset")
	}
	n.d.Setup(16, 0)
	n.attach(1)
	n.walk(1, 2, "slow")
}
