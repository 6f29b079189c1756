package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/vmm/seccomp"
	"golang.org/x/sys/unix"
)

// seccompChildEnv makes the test binary a VM's control server under the
// run phase's seccomp filter with SystemCalls added.
const seccompChildEnv = "GOKVM_CONTROL_SECCOMP_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(seccompChildEnv) != "" {
		seccompChild()
		return
	}
	os.Exit(m.Run())
}

func seccompChild() {
	hub := NewHub()
	s, err := Listen(Info{Name: "filtered", Started: time.Now()}, hub)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(3)
	}
	vm := &seccompVM{}
	vm.onStop = func() { s.Finish(6, "stopped") }
	s.SetVM(vm)
	s.Serve()
	if _, err := seccomp.Install(seccomp.Options{Mode: seccomp.On, Prefix: "child: ", ExitStatus: 7, Extra: SystemCalls}); err != nil {
		fmt.Println("seccomp:", err)
		os.Exit(4)
	}
	go io.Copy(hub, strings.NewReader("guest output\n"))
	go func() { // the guest echoes what it reads, until "mute"
		b := make([]byte, 64)
		for {
			n, err := hub.Read(b)
			if err != nil {
				return
			}
			hub.Write(b[:n])
			if strings.Contains(string(b[:n]), "mute") {
				return // and never reads again
			}
		}
	}()
	fmt.Println("ready")
	<-s.done
	// Finish has removed the socket; give the last answers time to go.
	time.Sleep(100 * time.Millisecond)
	os.Exit(0)
}

// seccompVM's snapshot also makes the KVM requests a machine's does
// (SnapshotIoctls), on the RAM file: they fail there (ENOTTY), but only
// once the filter has let them through.
type seccompVM struct{ testVM }

func (v *seccompVM) Snapshot(state, ram *os.File, ramName string, stop bool) error {
	for _, req := range seccomp.SnapshotIoctls {
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, ram.Fd(), uintptr(req.V), 0); errno != unix.ENOTTY {
			return fmt.Errorf("%s on a file: %v, want ENOTTY", req.Name, errno)
		}
	}
	return v.testVM.Snapshot(state, ram, ramName, stop)
}

// TestServerUnderSeccomp serves every request, a console, a snapshot (and
// refused ones) and the VM's end (the socket removed) in a process under
// the run phase's filter: a call the filter lacks would end it with
// status 7, naming the call.
func TestServerUnderSeccomp(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), seccompChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, _ := r.ReadString('\n')
	if line != "ready\n" {
		cmd.Wait()
		if strings.HasPrefix(line, "seccomp:") {
			t.Skipf("no seccomp here: %s", line)
		}
		t.Fatalf("child: %q %s", line, stderr.String())
	}
	c := dial(t, "filtered")
	if _, err := c.Info(); err != nil {
		t.Error(err)
	}
	if err := c.Pause(); err != nil {
		t.Error(err)
	}
	if _, err := c.DumpVcpus(); err != nil {
		t.Error(err)
	}
	if err := c.SysRq('h'); err != nil {
		t.Error(err)
	}
	con, err := dial(t, "filtered").Console()
	if err != nil {
		t.Fatal(err)
	}
	con.Write([]byte("typed\n"))
	cr := bufio.NewReader(con)
	for _, want := range []string{"guest output\n", "typed\n"} {
		if got, err := cr.ReadString('\n'); got != want {
			t.Errorf("console: %q %v, want %q", got, err, want)
		}
	}
	if _, err := dial(t, "filtered").Console(); err == nil {
		t.Error("a second console was let in")
	}
	// A guest that reads no more input keeps a client that leaves from
	// detaching only until the server sees it gone.
	con.Write([]byte("mute\n"))
	if got, err := cr.ReadString('\n'); got != "mute\n" {
		t.Errorf("console: %q %v, want the guest's last echo", got, err)
	}
	con.Write([]byte("never read\n"))
	time.Sleep(50 * time.Millisecond)
	con.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := dial(t, "filtered").Console()
		if err == nil {
			c.Close()
			break
		}
		if !strings.Contains(err.Error(), "in use") || time.Now().After(deadline) {
			t.Fatalf("attaching after a client left a guest that does not read: %v", err)
		}
	}
	// A snapshot: its files passed, checked and written; refused ones
	// closed.
	state, ram := outputFiles(t)
	if _, err := c.Snapshot(state, ram, "vm.state.ram", false); err != nil {
		t.Errorf("snapshot: %v", err)
	}
	checkSaved(t, state, ram)
	path, _ := SocketPath("filtered")
	for _, fds := range [][]int{{int(state.Fd()), int(ram.Fd()), int(state.Fd())}, {int(state.Fd()), int(out.(*os.File).Fd())}} {
		conn, r := askForFiles(t, path)
		if _, _, err := conn.WriteMsgUnix([]byte{0}, unix.UnixRights(fds...), nil); err != nil {
			t.Fatal(err)
		}
		if resp := readResponse(t, r); resp.OK {
			t.Errorf("%d descriptors, the second a pipe or not: accepted", len(fds))
		}
	}
	res, err := dial(t, "filtered").Stop()
	if err != nil || res.Status != 6 {
		t.Errorf("stop: %+v %v", res, err)
	}
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("the filtered server: %v; %s", err, stderr.String())
	}
	if _, err := Dial("filtered"); !errors.Is(err, ErrNoVM) {
		t.Errorf("after the end: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left: %v", err)
	}
}
