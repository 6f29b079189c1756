package ninep

import (
	"encoding/binary"
	"encoding/json"
	"log"
	"strings"
	"sync"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/hugelgupf/p9/p9"
)

// What the save and restore tests share: a save as a snapshot makes it,
// a restore onto a fresh device, and a share whose reads of a file named
// "slow" wait until the test lets them go.

// logLines is a device's log, for the tests to read.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newClientOn drives dev, as newClient does.
func newClientOn(t testing.TB, dev *Device) *client {
	t.Helper()
	d := virtiotest.New(t, virtio.Modern, dev)
	t.Cleanup(func() { d.Close(); dev.Close() })
	d.Setup(16, 0)
	return &client{t: t, d: d, dev: dev}
}

// save pauses the machine's device and saves its transport, as a
// snapshot does, then closes it (the saved machine is gone).
func (c *client) save() []byte {
	c.t.Helper()
	c.d.Pause()
	st := c.d.MustSave()
	c.d.Close()
	return st
}

// restore makes a fresh device serving dir as o says, with mount tag
// "share", restores st into its transport over the same guest memory,
// and returns a client that goes on where c was, and the device's log.
func (c *client) restore(st []byte, dir string, o Options) (*client, *logLines) {
	c.t.Helper()
	n, lines, err := c.tryRestore(st, dir, o)
	if err != nil {
		c.t.Fatalf("restoring: %v", err)
	}
	return n, lines
}

func (c *client) tryRestore(st []byte, dir string, o Options) (*client, *logLines, error) {
	c.t.Helper()
	share, err := OpenShare(dir, o)
	if err != nil {
		c.t.Fatal(err)
	}
	lines := &logLines{}
	dev, err := New("virtio-9p0", "share", share, log.New(lines, "", 0))
	if err != nil {
		c.t.Fatal(err)
	}
	d, err := c.d.Restore(virtio.Modern, dev, st)
	c.t.Cleanup(func() { d.Close(); dev.Close() })
	return &client{t: c.t, d: d, dev: dev, tag: c.tag}, lines, err
}

// session is the 9p device's own part of a saved transport state.
func savedSession(t testing.TB, st []byte) State {
	t.Helper()
	var ts virtio.State
	if err := json.Unmarshal(st, &ts); err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(ts.Device, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fid finds fid n in a saved session.
func (s *State) fid(n uint32) *FidState {
	for i := range s.Fids {
		if s.Fids[i].Fid == n {
			return &s.Fids[i]
		}
	}
	return nil
}

// version negotiates msize.
func (c *client) version(msize uint32) {
	c.t.Helper()
	r := c.raw(message(tVersion, 0xffff, enc(nil).u32(msize).str("9P2000.L")), 64)
	if r.typ != msgRversion {
		c.t.Fatalf("Rversion: type %d", r.typ)
	}
}

// getattrQID is the QID path of fid's file, or the errno.
func (c *client) getattrQID(fid uint32) (uint64, error) {
	c.t.Helper()
	r := c.rpc(tGetattr, enc(nil).u32(fid).u64(0x3fff))
	if r.typ != tGetattr+1 {
		return 0, r.errno()
	}
	// valid[8] qid[13]: type[1] version[4] path[8]
	return binary.LittleEndian.Uint64(r.body[8+5:]), nil
}

func (c *client) write(fid uint32, off uint64, data string) {
	c.t.Helper()
	c.ok(tWrite, enc(nil).u32(fid).u64(off).u32(uint32(len(data))).append([]byte(data)...))
}

// slowShare is a share whose reads of files named "slow" wait: each read
// sends on started, then waits for release to be closed.
type slowShare struct {
	*Share
	started chan struct{}
	release chan struct{}
}

func (s *slowShare) Attach() (p9.File, error) {
	f, err := s.Share.Attach()
	if err != nil {
		return nil, err
	}
	return &slowFile{File: f, s: s}, nil
}

type slowFile struct {
	p9.File
	s    *slowShare
	slow bool
}

func (f *slowFile) Walk(names []string) ([]p9.QID, p9.File, error) {
	q, nf, err := f.File.Walk(names)
	if err != nil {
		return nil, nil, err
	}
	slow := f.slow
	if len(names) > 0 {
		slow = names[len(names)-1] == "slow"
	}
	return q, &slowFile{File: nf, s: f.s, slow: slow}, nil
}

func (f *slowFile) ReadAt(p []byte, off int64) (int, error) {
	if f.slow {
		f.s.started <- struct{}{}
		<-f.s.release
	}
	return f.File.ReadAt(p, off)
}
