package control

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRequestsRoundTrip(t *testing.T) {
	_, vm := newTestServer(t, "rt", nil)
	c := dial(t, "rt")
	info, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "rt" || info.PID != 42 || info.State != StateRunning || info.VCPUs != 2 || info.Memory != "64" || info.Kernel != "Image" {
		t.Errorf("info %+v", info)
	}
	if err := c.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(); err == nil || !strings.Contains(err.Error(), "already paused") {
		t.Errorf("a second pause: %v", err)
	}
	if info, _ := c.Info(); info.State != StatePaused {
		t.Errorf("state %q after pause", info.State)
	}
	if err := c.Resume(); err != nil || vm.Paused() {
		t.Errorf("resume: %v, paused %v", err, vm.Paused())
	}
	dump, err := c.DumpVcpus()
	if err != nil || !strings.Contains(dump, "vcpu 0:") || !strings.Contains(dump, "vcpu 1:") {
		t.Errorf("dump %q %v", dump, err)
	}
	if err := c.SysRq('h'); err != nil || string(vm.sysrq) != "h" {
		t.Errorf("sysrq: %v, VM got %q", err, vm.sysrq)
	}
}

func TestSocketAndDirectoryAreThisUsersOnly(t *testing.T) {
	s, _ := newTestServer(t, "perm", nil)
	fi, err := os.Stat(s.Path())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %v %v: want a socket of mode 0600", fi.Mode(), err)
	}
	di, err := os.Stat(filepath.Dir(s.Path()))
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state directory %v %v: want 0700", di.Mode(), err)
	}
}

func TestLooseStateDirectoryIsClosed(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	dir, _ := Dir()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	startTestServer(t, "loose", nil)
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("state directory left %v", di.Mode().Perm())
	}
}

func TestNameInUseAndStaleSocket(t *testing.T) {
	s, _ := newTestServer(t, "dup", nil)
	if _, err := Listen(Info{Name: "dup"}, nil); !errors.Is(err, ErrNameInUse) {
		t.Errorf("a second VM with the name: %v, want ErrNameInUse", err)
	}
	// A socket nobody listens on, as a killed gokvm leaves it.
	stale := filepath.Join(filepath.Dir(s.Path()), "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial("stale"); !errors.Is(err, ErrNoVM) {
		t.Errorf("dialling a stale socket: %v, want ErrNoVM", err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale socket was not removed: %v", err)
	}
	// And Listen takes the name of one that is left.
	ln, _ = net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	startTestServer(t, "stale", nil)
	// A file that is not a socket is not removed.
	if err := os.WriteFile(filepath.Join(filepath.Dir(s.Path()), "file.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(Info{Name: "file"}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file in the way: %v", err)
	}
}

// rawConn is a client that writes bytes as they are, not through Client.
func rawConn(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, r *bufio.Reader) Response {
	t.Helper()
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	resp, err := DecodeResponse(line)
	if err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return resp
}

func TestMalformedRequestsGetErrorsAndTheConnectionGoesOn(t *testing.T) {
	s, vm := newTestServer(t, "bad", nil)
	c, r := rawConn(t, s)
	for _, line := range []string{"garbage", `{"version":1,"op":"explode"}`, `{"version":7,"op":"pause"}`, "\x00\xff\xfe", `{"version":1,"op":"sysrq","key":""}`, "{}"} {
		fmt.Fprintf(c, "%s\n", line)
		if resp := readResponse(t, r); resp.OK || resp.Error == "" {
			t.Errorf("%q answered %+v, want an error", line, resp)
		}
	}
	fmt.Fprintf(c, "%s\n", `{"version":1,"op":"pause"}`)
	if resp := readResponse(t, r); !resp.OK || !vm.Paused() {
		t.Errorf("a good request after bad ones: %+v", resp)
	}
	// Blank lines are skipped, not answered.
	fmt.Fprintf(c, "\n\r\n%s\n", `{"version":1,"op":"resume"}`)
	if resp := readResponse(t, r); !resp.OK || vm.Paused() {
		t.Errorf("resume after blank lines: %+v", resp)
	}
}

func TestOversizedRequestIsRefusedAndClosed(t *testing.T) {
	s, _ := newTestServer(t, "big", nil)
	c, r := rawConn(t, s)
	go c.Write(bytes.Repeat([]byte("x"), 10*MaxLine)) // no newline, ever
	resp := readResponse(t, r)
	if resp.OK || !strings.Contains(resp.Error, "longer than") {
		t.Errorf("an oversized request answered %+v", resp)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("the connection stayed open after an oversized request")
	}
	// The VM serves others as before.
	if _, err := dial(t, "big").Info(); err != nil {
		t.Errorf("after an oversized request: %v", err)
	}
}

func TestSilentClientsDoNotBlockOthers(t *testing.T) {
	s, _ := newTestServer(t, "silent", nil)
	for i := 0; i < maxConns-2; i++ {
		rawConn(t, s) // connects, says nothing
	}
	done := make(chan error, 1)
	go func() {
		_, err := dial(t, "silent").Info()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("silent clients blocked another client's request")
	}
}

func TestTooManyConnectionsAreRefused(t *testing.T) {
	s, _ := newTestServer(t, "many", nil)
	for i := 0; i < maxConns; i++ {
		c, r := rawConn(t, s)
		fmt.Fprintf(c, "%s\n", `{"version":1,"op":"info"}`)
		readResponse(t, r) // so the server has taken it
	}
	_, r := rawConn(t, s)
	if resp := readResponse(t, r); resp.OK || !strings.Contains(resp.Error, "too many") {
		t.Errorf("one connection too many answered %+v", resp)
	}
}

func TestStartingVM(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Info{Name: "early"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	defer s.Finish(2, "failed to start")
	c := dial(t, "early")
	if info, err := c.Info(); err != nil || info.State != StateStarting {
		t.Errorf("info before the VM is built: %+v %v", info, err)
	}
	if err := c.Pause(); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("pause before the VM is built: %v", err)
	}
}

func TestWaitAndStopGetTheExitStatus(t *testing.T) {
	s, vm := newTestServer(t, "end", nil)
	vm.onStop = func() { s.Finish(6, "stopped") }
	waiter := dial(t, "end")
	waited := make(chan Result, 1)
	go func() {
		r, err := waiter.Wait()
		if err != nil {
			t.Error(err)
		}
		waited <- r
	}()
	time.Sleep(50 * time.Millisecond) // the waiter is waiting
	r, err := dial(t, "end").Stop()
	if err != nil || r.Status != 6 || r.Outcome != "stopped" {
		t.Fatalf("stop: %+v %v", r, err)
	}
	select {
	case w := <-waited:
		if w.Status != 6 {
			t.Errorf("wait: %+v", w)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait was not answered when the VM ended")
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left after the VM ended: %v", err)
	}
	if _, err := Dial("end"); !errors.Is(err, ErrNoVM) {
		t.Errorf("dialling an ended VM: %v", err)
	}
}

func TestFinishDoesNotWaitForIdleClients(t *testing.T) {
	s, _ := newTestServer(t, "idle", nil)
	rawConn(t, s)
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	s.Finish(0, "powered off")
	if d := time.Since(start); d > time.Second {
		t.Errorf("Finish took %v with an idle client", d)
	}
}

func TestListShowsLiveVMsAndDropsStaleOnes(t *testing.T) {
	s, _ := newTestServer(t, "b-vm", nil)
	startTestServer(t, "a-vm", NewHub())
	stale := filepath.Join(filepath.Dir(s.Path()), "gone.sock")
	ln, _ := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	vms, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 2 || vms[0].Name != "a-vm" || !vms[0].Detached || vms[1].Name != "b-vm" || vms[1].Detached {
		t.Errorf("list %+v", vms)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("list left a stale socket")
	}
}

func TestConsoleReplaysAndTakesInput(t *testing.T) {
	hub := NewHub()
	newTestServer(t, "con", hub)
	hub.Write([]byte("booted\n"))
	stream, err := dial(t, "con").Console()
	if err != nil {
		t.Fatal(err)
	}
	hub.Write([]byte("login: "))
	want := "booted\nlogin: "
	got := make([]byte, len(want))
	if _, err := io.ReadFull(stream, got); err != nil || string(got) != want {
		t.Fatalf("console read %q %v, want %q", got, err, want)
	}
	if _, err := stream.Write([]byte("root\n")); err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 5)
	if _, err := io.ReadFull(hub, in); err != nil || string(in) != "root\n" {
		t.Errorf("the guest read %q %v", in, err)
	}

	// A second attacher is refused, naming the first.
	_, err = dial(t, "con").Console()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("a second attacher: %v, want a refusal naming pid %d", err, os.Getpid())
	}
	if info, _ := dial(t, "con").Info(); info.ConsoleClient == "" {
		t.Error("info does not name the attached client")
	}
	// After a detach, the next one is let in and sees the history.
	stream.Close()
	deadline := time.Now().Add(5 * time.Second)
	for hub.attacher() != "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s2, err := dial(t, "con").Console()
	if err != nil {
		t.Fatalf("attaching after a detach: %v", err)
	}
	got = make([]byte, len(want))
	if _, err := io.ReadFull(s2, got); err != nil || string(got) != want {
		t.Errorf("second attach replayed %q %v", got, err)
	}
}

func TestForegroundVMHasNoConsoleToAttach(t *testing.T) {
	newTestServer(t, "fg", nil)
	if _, err := dial(t, "fg").Console(); err == nil || !strings.Contains(err.Error(), "foreground") {
		t.Errorf("attaching to a foreground VM: %v", err)
	}
}

func TestStalledAttacherDoesNotBlockTheGuest(t *testing.T) {
	hub := NewHub()
	newTestServer(t, "stall", hub)
	stream, err := dial(t, "stall").Console()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream // never read
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64)
	start := time.Now()
	for i := 0; i < 8<<20/len(chunk); i++ { // 8 MiB, far beyond any buffer
		hub.Write(chunk)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("8 MiB of guest output took %v with a stalled attacher", d)
	}
	if n := len(hub.Snapshot()); n != RingSize {
		t.Errorf("ring holds %d bytes, want %d", n, RingSize)
	}
}

func TestFinishSendsTheLastOutputAndClosesTheConsole(t *testing.T) {
	hub := NewHub()
	s, _ := newTestServer(t, "last", hub)
	stream, err := dial(t, "last").Console()
	if err != nil {
		t.Fatal(err)
	}
	hub.Write([]byte("reboot: Power down\n"))
	s.Finish(0, "powered off")
	all, err := io.ReadAll(stream)
	if err != nil || !strings.Contains(string(all), "Power down") {
		t.Errorf("after the end the client read %q %v", all, err)
	}
}

// TestConsoleEndsWhenItsClientLeavesAGuestThatDoesNotRead: the guest
// never reads its input, so what the client typed cannot go in; the
// client's leaving still ends the attachment and lets the next one in.
func TestConsoleEndsWhenItsClientLeavesAGuestThatDoesNotRead(t *testing.T) {
	hub := NewHub() // nothing ever reads it: the guest takes no input
	newTestServer(t, "deaf", hub)
	stream, err := dial(t, "deaf").Console()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Write([]byte("typed into a guest that does not read\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the server waits for the guest to take it
	stream.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s2, err := dial(t, "deaf").Console()
		if err == nil {
			s2.Close()
			return
		}
		if !strings.Contains(err.Error(), "in use") || time.Now().After(deadline) {
			t.Fatalf("attaching after the first client left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsoleHalfCloseDetachesFromAGuestThatDoesNotRead: a client that
// shuts its side (as docs/control.md says detaches) is let go too.
func TestConsoleHalfCloseDetachesFromAGuestThatDoesNotRead(t *testing.T) {
	hub := NewHub()
	newTestServer(t, "deaf2", hub)
	c := dial(t, "deaf2")
	stream, err := c.Console()
	if err != nil {
		t.Fatal(err)
	}
	stream.Write([]byte("x"))
	time.Sleep(50 * time.Millisecond)
	c.conn.CloseWrite()
	// The server ends the stream: the client reads its end.
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(stream); err != nil {
		t.Errorf("the console did not end after the client's half-close: %v", err)
	}
	if a := hub.attacher(); a != "" {
		t.Errorf("still attached: %s", a)
	}
}
