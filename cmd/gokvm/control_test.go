package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
)

// TestMain lets this test binary be the gokvm that run --detach starts.
func TestMain(m *testing.M) {
	if isDetachedChild() {
		os.Exit(Main(os.Args[1:], Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	os.Exit(m.Run())
}

// cliVM stands in for a running machine behind a control socket.
type cliVM struct {
	mu     sync.Mutex
	paused bool
	keys   []byte
	finish func()
	// snapErr fails snapshots; saved counts those written.
	snapErr error
	saved   int
}

func (v *cliVM) Pause() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.paused {
		return errors.New("the machine is already paused")
	}
	v.paused = true
	return nil
}

func (v *cliVM) Resume() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.paused = false
	return nil
}

func (v *cliVM) Paused() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.paused }

func (v *cliVM) DumpVcpus(w io.Writer) { fmt.Fprint(w, "vcpu states\nvcpu 0: x\nvcpu 1: y\n") }

func (v *cliVM) SysRq(k byte) error {
	v.mu.Lock()
	v.keys = append(v.keys, k)
	v.mu.Unlock()
	return nil
}

func (v *cliVM) Stop() { go v.finish() }

// Snapshot writes the files as a machine would, or fails with snapErr.
func (v *cliVM) Snapshot(state, ram *os.File, ramName string, stop bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.snapErr != nil {
		return v.snapErr
	}
	if _, err := ram.WriteAt([]byte("RAM"), 0); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(state, "state of a VM whose RAM is %s", ramName); err != nil {
		return err
	}
	v.saved++
	return nil
}

func serveVM(t *testing.T, name string, hub *control.Hub) (*control.Server, *cliVM) {
	t.Helper()
	s, err := control.Listen(control.Info{Name: name, PID: 7, Started: time.Now().Add(-time.Minute), VCPUs: 2, Memory: "64", Kernel: "/k/Image", Detached: hub != nil}, hub)
	if err != nil {
		t.Fatal(err)
	}
	vm := &cliVM{finish: func() { s.Finish(machine.ExitStopped, "stopped") }}
	s.SetVM(vm)
	s.Serve()
	t.Cleanup(func() { s.Finish(0, "powered off") })
	return s, vm
}

// awaitWaiter returns once a client (gokvm wait) waits on s for its VM
// to end, so that ending the VM cannot outrun it.
func awaitWaiter(t *testing.T, s *control.Server) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.Waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no client waits for the VM")
		}
	}
}

func TestControlCommands(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	srv, vm := serveVM(t, "web", nil)
	serveVM(t, "db", control.NewHub())

	code, out, errOut := runCLI(t, "list")
	if code != 0 || !strings.Contains(out, "NAME") || !strings.Contains(out, "web") || !strings.Contains(out, "db") || !strings.Contains(out, "64M") {
		t.Errorf("list: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "list", "--json")
	var infos []control.Info
	if err := json.Unmarshal([]byte(out), &infos); code != 0 || err != nil || len(infos) != 2 || infos[0].Name != "db" || infos[1].State != "running" {
		t.Errorf("list --json: %d %v %s", code, err, out)
	}
	if code, _, e := runCLI(t, "pause", "web"); code != 0 || !vm.Paused() {
		t.Errorf("pause: %d %q", code, e)
	}
	if code, _, e := runCLI(t, "pause", "web"); code != machine.ExitFailure || !strings.Contains(e, "already paused") {
		t.Errorf("pause twice: %d %q", code, e)
	}
	if code, _, _ := runCLI(t, "resume", "web"); code != 0 || vm.Paused() {
		t.Errorf("resume: %d", code)
	}
	if code, out, _ := runCLI(t, "debug", "web", "--dump"); code != 0 || !strings.Contains(out, "vcpu 1: y") {
		t.Errorf("debug --dump: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "debug", "--sysrq", "h", "web"); code != 0 || string(vm.keys) != "h" {
		t.Errorf("debug --sysrq: %d %q", code, vm.keys)
	}

	waited := make(chan int)
	go func() {
		code, _, _ := runCLI(t, "wait", "web")
		waited <- code
	}()
	awaitWaiter(t, srv)
	if code, _, e := runCLI(t, "stop", "web"); code != 0 {
		t.Errorf("stop: %d %q", code, e)
	}
	if code := <-waited; code != machine.ExitStopped {
		t.Errorf("wait: status %d, want %d", code, machine.ExitStopped)
	}
	if code, _, e := runCLI(t, "pause", "web"); code != machine.ExitFailure || !strings.Contains(e, "no VM") {
		t.Errorf("pause of a stopped VM: %d %q", code, e)
	}
}

func TestControlUsageErrors(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	for _, args := range [][]string{
		{"pause"}, {"pause", "a/b"}, {"pause", "a", "b"}, {"debug", "a"}, {"debug", "a", "--dump", "--sysrq", "h"},
		{"debug", "a", "--sysrq", "hh"}, {"list", "x"}, {"wait", "--bogus", "a"}, {"run", "--name", "-bad", "-k", "x"},
	} {
		if code, _, e := runCLI(t, args...); code != machine.ExitUsage {
			t.Errorf("%q: status %d (%q), want %d", args, code, e, machine.ExitUsage)
		}
	}
	if code, _, e := runCLI(t, "resume", "nosuch"); code != machine.ExitFailure || !strings.Contains(e, "no VM") {
		t.Errorf("resume of no VM: %d %q", code, e)
	}
}

func TestRunNameInUseAndNoSocketLeft(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	serveVM(t, "taken", nil)
	kernel := writeFile(t, t.TempDir(), "Image", testimage.Zimage(4096)) // without --aarch32
	if code, _, e := runCLI(t, "run", "--name", "taken", "-k", kernel); code != machine.ExitUsage || !strings.Contains(e, "running") {
		t.Errorf("run with a name in use: %d %q", code, e)
	}
	if code, _, _ := runCLI(t, "run", "--name", "fresh", "-k", kernel); code != machine.ExitUsage {
		t.Errorf("run with a bad kernel: %d", code)
	}
	if _, err := os.Lstat(filepath.Join(dir, "gokvm", "fresh.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run left its socket: %v", err)
	}
}

func TestDetachReportsAFailedStart(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	kernel := writeFile(t, t.TempDir(), "Image", testimage.Zimage(4096)) // without --aarch32
	code, out, e := runCLI(t, "run", "--detach", "--name", "bad", "-k", kernel)
	if code != machine.ExitUsage || !strings.Contains(e, "not an arm64 Image") || out != "" {
		t.Errorf("run --detach with a bad kernel: %d %q %q, want run's status %d and message", code, out, e, machine.ExitUsage)
	}
	serveVM(t, "taken", nil)
	if code, _, e := runCLI(t, "run", "--detach", "--name", "taken", "-k", kernel); code != machine.ExitUsage || !strings.Contains(e, "running") {
		t.Errorf("run --detach with a name in use: %d %q", code, e)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "gokvm"))
	if len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want only taken's socket", len(entries))
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestConsoleAttachWithPipes(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	hub := control.NewHub()
	s, _ := serveVM(t, "con", hub)
	hub.Write([]byte("counter 1\n"))
	inR, inW := io.Pipe()
	var out, errOut syncBuffer
	sigs := make(chan os.Signal, 1)
	done := make(chan int)
	go func() {
		done <- Main([]string{"console", "con"}, Env{Stdin: inR, Stdout: &out, Stderr: &errOut, Signals: sigs})
	}()
	if _, err := inW.Write([]byte("echo hi\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	if _, err := io.ReadFull(hub, got); err != nil || string(got) != "echo hi\n" {
		t.Errorf("the guest read %q %v", got, err)
	}
	inW.Close() // the end of piped input does not detach
	hub.Write([]byte("counter 2\n"))
	waitFor(t, func() bool { return strings.Contains(out.String(), "counter 2") })
	if !strings.HasPrefix(out.String(), "counter 1\n") {
		t.Errorf("the history was not replayed first: %q", out.String())
	}
	// A second attacher is refused while this one is attached.
	if code, _, e := runCLI(t, "console", "con"); code != machine.ExitFailure || !strings.Contains(e, "in use by pid") {
		t.Errorf("second console: %d %q", code, e)
	}
	sigs <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Errorf("console ended with %d", code)
	}
	// The VM ending ends an attached console.
	waitFor(t, func() bool { info, _ := control.List(); return len(info) == 1 && info[0].ConsoleClient == "" })
	go func() {
		done <- Main([]string{"console", "con"}, Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut, Signals: make(chan os.Signal)})
	}()
	waitFor(t, func() bool { info, _ := control.List(); return len(info) == 1 && info[0].ConsoleClient != "" })
	s.Finish(0, "powered off")
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errOut.String(), "console closed") {
			t.Errorf("console at the VM's end: %d %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the console did not end with the VM")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEscapeFilterDetach(t *testing.T) {
	detached := 0
	f := &escapeFilter{r: strings.NewReader("ab\x01dc"), quit: func() {}, detach: func() { detached++ }}
	got, _ := io.ReadAll(f)
	if string(got) != "abc" || detached != 1 {
		t.Errorf("read %q, detached %d", got, detached)
	}
	f = &escapeFilter{r: strings.NewReader("\x01d"), quit: func() {}}
	if got, _ := io.ReadAll(f); string(got) != "\x01d" {
		t.Errorf("without a detach, Ctrl-A d passes: %q", got)
	}
}
