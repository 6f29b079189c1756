package control

import (
	"bytes"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCheckPeerUID(t *testing.T) {
	for _, c := range []struct {
		peer, own uint32
		ok        bool
	}{
		{1000, 1000, true}, // the same user
		{0, 1000, true},    // root may control anyone's VM
		{0, 0, true},
		{1001, 1000, false}, // another user
		{1000, 0, false},    // a user at root's VM
	} {
		err := checkPeerUID(c.peer, c.own)
		if (err == nil) != c.ok {
			t.Errorf("uid %d at uid %d's socket: %v, want allowed %v", c.peer, c.own, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "uid 1001") && !strings.Contains(err.Error(), "uid 1000") {
			t.Errorf("the refusal %q does not name the peer's uid", err)
		}
	}
}

// TestRealSocketPassesTheCheck: both ends of a real socket pair are this
// process, whose uid the check lets in.
func TestRealSocketPassesTheCheck(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cred, err := peerCred(c.(*net.UnixConn))
		if err != nil {
			t.Fatalf("end %d: %v", i, err)
		}
		if cred.Pid != int32(os.Getpid()) {
			t.Errorf("end %d: peer pid %d, want %d", i, cred.Pid, os.Getpid())
		}
		if err := checkPeerUID(cred.Uid, uint32(os.Geteuid())); err != nil {
			t.Errorf("end %d: %v", i, err)
		}
	}
}

// TestServerRefusesAnotherUsersClient: a client whose uid is neither the
// server's nor root's is closed unanswered, and the log names its uid.
func TestServerRefusesAnotherUsersClient(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Info{Name: "theirs"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged syncBuffer
	s.SetLogger(log.New(&logged, "", 0))
	// The test runs as one user (often root): a stranger is made up.
	s.peerCred = func(c *net.UnixConn) (*unix.Ucred, error) {
		return &unix.Ucred{Pid: 4711, Uid: 4242, Gid: 4242}, nil
	}
	s.SetVM(&testVM{})
	s.Serve()
	defer s.Finish(0, "powered off")
	c, r := rawConn(t, s)
	c.Write([]byte(`{"version":1,"op":"info"}` + "\n"))
	if line, err := r.ReadBytes('\n'); err == nil {
		t.Errorf("another user's client was answered %q", line)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logged.String(), "uid 4242") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := logged.String(); !strings.Contains(got, "uid 4242") || !strings.Contains(got, "pid 4711") {
		t.Errorf("log %q does not name the refused client", got)
	}
}

// syncBuffer is a bytes.Buffer a logger may write while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClientRefusesAnotherUsersServer: a socket whose server runs as
// another user is refused, naming its uid and pid; this user's and
// root's are taken.
func TestClientRefusesAnotherUsersServer(t *testing.T) {
	err := checkServer(&unix.Ucred{Pid: 77, Uid: 4242}, 1000)
	if err == nil || !strings.Contains(err.Error(), "uid 4242") || !strings.Contains(err.Error(), "pid 77") {
		t.Errorf("a server of uid 4242: %v, want a refusal naming it", err)
	}
	for _, uid := range []uint32{1000, 0} {
		if err := checkServer(&unix.Ucred{Pid: 77, Uid: uid}, 1000); err != nil {
			t.Errorf("a server of uid %d: %v", uid, err)
		}
	}
}
