package control

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// outputFiles creates a snapshot's two files, as gokvm snapshot does.
func outputFiles(t *testing.T) (state, ram *os.File) {
	t.Helper()
	dir := t.TempDir()
	var err error
	if state, err = os.OpenFile(filepath.Join(dir, "vm.state"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
		t.Fatal(err)
	}
	if ram, err = os.OpenFile(filepath.Join(dir, "vm.state.ram"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close(); ram.Close() })
	return state, ram
}

// checkSaved checks what testVM.Snapshot writes.
func checkSaved(t *testing.T, state, ram *os.File) {
	t.Helper()
	got, err := os.ReadFile(state.Name())
	if err != nil || string(got) != "state; RAM in vm.state.ram\n" {
		t.Errorf("state file %q %v", got, err)
	}
	mem, err := os.ReadFile(ram.Name())
	if err != nil || len(mem) != 8192 || string(mem[4096:4105]) != "guest RAM" {
		t.Errorf("RAM file of %d bytes (%v)", len(mem), err)
	}
}

// openFDs counts this process's descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// noLeak fails the test unless the descriptors come back to base: the
// server closed every one it was passed.
func noLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, %d before: the server kept some it was passed", openFDs(t), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSnapshotSavesToThePassedFiles(t *testing.T) {
	_, vm := newTestServer(t, "snap", nil)
	c := dial(t, "snap")
	state, ram := outputFiles(t)
	res, err := c.Snapshot(state, ram, "vm.state.ram", false)
	if err != nil || res != (Result{}) {
		t.Fatalf("snapshot: %+v %v", res, err)
	}
	checkSaved(t, state, ram)
	if len(vm.snapshots) != 1 || vm.snapshots[0] != (savedSnapshot{"vm.state.ram", false}) || vm.Paused() {
		t.Errorf("VM saved %+v, paused %v: want one snapshot and the VM running", vm.snapshots, vm.Paused())
	}
	// The connection goes on.
	if info, err := c.Info(); err != nil || info.State != StateRunning {
		t.Errorf("info after a snapshot: %+v %v", info, err)
	}
}

func TestSnapshotStopEndsTheVMAsStopDoes(t *testing.T) {
	s, vm := newTestServer(t, "snapstop", nil)
	vm.onStop = func() { s.Finish(6, "stopped") }
	state, ram := outputFiles(t)
	res, err := dial(t, "snapstop").Snapshot(state, ram, "vm.state.ram", true)
	if err != nil || res.Status != 6 || res.Outcome != "stopped" {
		t.Fatalf("snapshot --stop: %+v %v, want status 6 stopped", res, err)
	}
	checkSaved(t, state, ram)
	if vm.stops != 1 || len(vm.snapshots) != 1 || !vm.snapshots[0].stop {
		t.Errorf("VM stopped %d times, saved %+v", vm.stops, vm.snapshots)
	}
	if _, err := Dial("snapstop"); !errors.Is(err, ErrNoVM) {
		t.Errorf("after snapshot --stop: %v", err)
	}
}

func TestSnapshotErrorsArePassedBack(t *testing.T) {
	_, vm := newTestServer(t, "snaperr", nil)
	c := dial(t, "snaperr")
	state, ram := outputFiles(t)
	vm.snapErr = CannotSave(errors.New("this machine cannot be saved: device virtio-blk0 has no saved state yet"))
	_, err := c.Snapshot(state, ram, "vm.state.ram", true)
	if err == nil || !errors.Is(err, ErrCannotSave) || !strings.Contains(err.Error(), "device virtio-blk0 has no saved state yet") {
		t.Errorf("a VM that cannot be saved: %v, want ErrCannotSave naming the device", err)
	}
	vm.snapErr = errors.New("saving guest RAM: no space left on device")
	_, err = c.Snapshot(state, ram, "vm.state.ram", false)
	if err == nil || errors.Is(err, ErrCannotSave) || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("a save that failed: %v", err)
	}
	if vm.Paused() || vm.stops != 0 {
		t.Errorf("after failed snapshots: paused %v, stopped %d times", vm.Paused(), vm.stops)
	}
	if _, err := c.Info(); err != nil {
		t.Errorf("info after failed snapshots: %v", err)
	}
}

// askForFiles sends a snapshot request on a raw connection and reads
// the answer asking for the files.
func askForFiles(t *testing.T, socket string) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "%s\n", `{"version":1,"op":"snapshot","ram_file":"vm.state.ram"}`)
	if resp := readResponse(t, r); !resp.OK || !resp.SendFiles {
		t.Fatalf("snapshot answered %+v, want send_files", resp)
	}
	return c, r
}

func TestSnapshotRefusesBadDescriptors(t *testing.T) {
	s, vm := newTestServer(t, "snapbad", nil)
	dir := t.TempDir()
	open := func(name string, flag int) int {
		f, err := os.OpenFile(filepath.Join(dir, name), flag|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return int(f.Fd())
	}
	a, b, c := open("a", os.O_RDWR), open("b", os.O_WRONLY), open("c", os.O_RDWR)
	readOnly, appending := open("ro", os.O_RDONLY), open("app", os.O_WRONLY|os.O_APPEND)
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	base := openFDs(t)
	for _, tc := range []struct {
		what string
		fds  []int
		want string
	}{
		{"no descriptors", nil, "0 descriptors"},
		{"one", []int{a}, "1 descriptors"},
		{"three", []int{a, b, c}, "3 descriptors"},
		{"nine", []int{a, b, c, a, b, c, a, b, c}, "more than 8"},
		{"a directory", []int{int(d.Fd()), b}, "the state file: not a regular file but a directory"},
		{"a pipe", []int{a, int(pw.Fd())}, "the RAM file: not a regular file but a pipe"},
		{"a file open for reading", []int{a, readOnly}, "not open for writing"},
		{"a file open for appending", []int{appending, b}, "O_APPEND"},
		{"one file twice", []int{a, a}, "one file"},
	} {
		conn, r := askForFiles(t, s.Path())
		var oob []byte
		if tc.fds != nil {
			oob = unix.UnixRights(tc.fds...)
		}
		if _, _, err := conn.WriteMsgUnix([]byte{0}, oob, nil); err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if resp := readResponse(t, r); resp.OK || !strings.Contains(resp.Error, tc.want) {
			t.Errorf("%s: answered %+v, want an error saying %q", tc.what, resp, tc.want)
		}
		// The connection goes on, and nothing was saved or paused.
		fmt.Fprintf(conn, "%s\n", `{"version":1,"op":"info"}`)
		if resp := readResponse(t, r); !resp.OK || resp.Info.State != StateRunning {
			t.Errorf("%s: info after the refusal: %+v", tc.what, resp)
		}
		conn.Close()
	}
	if len(vm.snapshots) != 0 {
		t.Errorf("saved %+v from bad descriptors", vm.snapshots)
	}
	noLeak(t, base)
}

func TestSnapshotClientThatLeaves(t *testing.T) {
	// Set before the server starts, restored after it ended.
	d := filesTimeout
	t.Cleanup(func() { filesTimeout = d })
	filesTimeout = 100 * time.Millisecond
	s, vm := newTestServer(t, "snapgone", nil)
	state, ram := outputFiles(t)
	// None of the clients below holds the VM once gone: the next
	// snapshot goes through (as soon as the server saw it go).
	snapshotAfter := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			_, err := dial(t, "snapgone").Snapshot(state, ram, "vm.state.ram", false)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "being saved") || time.Now().After(deadline) {
				t.Fatalf("a snapshot after %s: %v", what, err)
			}
		}
		if vm.Paused() {
			t.Errorf("paused after %s", what)
		}
	}
	nc, _ := rawConn(t, s)
	fmt.Fprintf(nc, "%s\n", `{"version":1,"op":"snapshot","ram_file":"x.ram"}`)
	nc.Close()
	snapshotAfter("a client that left before the server asked for the files")
	conn, _ := askForFiles(t, s.Path())
	conn.Close()
	snapshotAfter("a client that left once asked for the files")
	// One that stays and sends nothing is told so when the time is up.
	_, r := askForFiles(t, s.Path())
	if resp := readResponse(t, r); resp.OK || !strings.Contains(resp.Error, "no files within") {
		t.Errorf("a client that sent no files: %+v", resp)
	}
	snapshotAfter("a client that sent no files")
	if len(vm.snapshots) != 3 {
		t.Errorf("saved %+v", vm.snapshots)
	}
}

func TestSnapshotDataAheadOfTheFilesIsRefused(t *testing.T) {
	s, vm := newTestServer(t, "snapahead", nil)
	nc, r := rawConn(t, s)
	// The byte that should carry the descriptors, sent with the request:
	// the line reader would take it and the kernel close what it carried.
	fmt.Fprintf(nc, "%s\n\x00", `{"version":1,"op":"snapshot","ram_file":"x.ram"}`)
	if resp := readResponse(t, r); resp.OK || !strings.Contains(resp.Error, "only once asked") {
		t.Errorf("data ahead of the files: %+v", resp)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Error("the connection stayed open")
	}
	if len(vm.snapshots) != 0 {
		t.Errorf("saved %+v", vm.snapshots)
	}
}

func TestSnapshotOneAtATimeAndNoResumeMeanwhile(t *testing.T) {
	_, vm := newTestServer(t, "snapbusy", nil)
	inside, release := make(chan struct{}), make(chan struct{})
	vm.inSnapshot = func() { close(inside); <-release }
	state, ram := outputFiles(t)
	done := make(chan error, 1)
	go func() {
		_, err := dial(t, "snapbusy").Snapshot(state, ram, "vm.state.ram", false)
		done <- err
	}()
	<-inside
	c := dial(t, "snapbusy")
	if err := c.Resume(); err == nil || !strings.Contains(err.Error(), "being saved") {
		t.Errorf("resume while saving: %v", err)
	}
	if err := c.Pause(); err == nil || !strings.Contains(err.Error(), "being saved") {
		t.Errorf("pause while saving: %v", err)
	}
	s2, r2 := outputFiles(t)
	if _, err := c.Snapshot(s2, r2, "vm.state.ram", false); err == nil || !strings.Contains(err.Error(), "being saved") {
		t.Errorf("a second snapshot while saving: %v", err)
	}
	if info, _ := c.Info(); info.State != StatePaused {
		t.Errorf("state %q while saving", info.State)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if vm.Paused() {
		t.Error("still paused after the snapshot")
	}
	if err := c.Pause(); err != nil {
		t.Errorf("pause after the snapshot: %v", err)
	}
}

func TestSnapshotOfAStartingVM(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	s, err := Listen(Info{Name: "early-snap"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve()
	defer s.Finish(2, "failed to start")
	state, ram := outputFiles(t)
	if _, err := dial(t, "early-snap").Snapshot(state, ram, "vm.state.ram", false); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Errorf("snapshot before the VM is built: %v", err)
	}
}

func TestClientSnapshotChecksTheRAMFileName(t *testing.T) {
	_, vm := newTestServer(t, "snapname", nil)
	state, ram := outputFiles(t)
	for _, bad := range []string{"", "dir/x.ram", "..", strings.Repeat("r", 256)} {
		if _, err := dial(t, "snapname").Snapshot(state, ram, bad, false); err == nil {
			t.Errorf("RAM file name %q accepted", bad)
		}
	}
	if len(vm.snapshots) != 0 {
		t.Errorf("saved %+v", vm.snapshots)
	}
}
