package control

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// testVM stands in for a machine: it records what the server asked.
type testVM struct {
	mu     sync.Mutex
	paused bool
	sysrq  []byte
	stops  int
	onStop func()
	// snapshots are the snapshots saved; snapErr fails the next ones;
	// inSnapshot, when set, runs while one is saved (the VM paused).
	snapshots  []savedSnapshot
	snapErr    error
	inSnapshot func()
}

type savedSnapshot struct {
	ramName string
	stop    bool
}

func (v *testVM) Pause() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.paused {
		return errors.New("the machine is already paused")
	}
	v.paused = true
	return nil
}

func (v *testVM) Resume() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.paused {
		return errors.New("the machine is not paused")
	}
	v.paused = false
	return nil
}

func (v *testVM) Paused() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.paused
}

func (v *testVM) DumpVcpus(w io.Writer) {
	fmt.Fprintln(w, "vcpu states after 1s; 0 MMIO exits")
	fmt.Fprintln(w, "vcpu 0: runnable pc=0x1")
	fmt.Fprintln(w, "vcpu 1: runnable pc=0x2")
}

func (v *testVM) SysRq(key byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sysrq = append(v.sysrq, key)
	return nil
}

func (v *testVM) Stop() {
	v.mu.Lock()
	v.stops++
	f := v.onStop
	v.mu.Unlock()
	if f != nil {
		go f()
	}
}

// Snapshot writes as machine.Snapshot does: the RAM file emptied,
// written at offsets, sized and rewound (vmm/memory's WriteRAM), then
// the state file; paused meanwhile, and resumed unless stop.
func (v *testVM) Snapshot(state, ram *os.File, ramName string, stop bool) (err error) {
	v.mu.Lock()
	wasPaused, f := v.paused, v.inSnapshot
	v.paused = true
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.paused = wasPaused || (stop && err == nil)
		v.mu.Unlock()
	}()
	if f != nil {
		f()
	}
	v.mu.Lock()
	err = v.snapErr
	v.mu.Unlock()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := ram.Truncate(0); err != nil {
		return err
	}
	if _, err := ram.WriteAt([]byte("guest RAM"), 4096); err != nil {
		return err
	}
	if err := ram.Truncate(8192); err != nil {
		return err
	}
	if _, err := ram.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(state, "state; RAM in %s\n", ramName); err != nil {
		return err
	}
	v.mu.Lock()
	v.snapshots = append(v.snapshots, savedSnapshot{ramName, stop})
	v.mu.Unlock()
	return nil
}

// newTestServer serves a VM named name in a fresh state directory.
func newTestServer(t *testing.T, name string, hub *Hub) (*Server, *testVM) {
	t.Helper()
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	return startTestServer(t, name, hub)
}

func startTestServer(t *testing.T, name string, hub *Hub) (*Server, *testVM) {
	t.Helper()
	s, err := Listen(Info{Name: name, PID: 42, Started: time.Now(), VCPUs: 2, Memory: "64", Kernel: "Image", Detached: hub != nil}, hub)
	if err != nil {
		t.Fatal(err)
	}
	vm := &testVM{}
	s.SetVM(vm)
	s.Serve()
	t.Cleanup(func() { s.Finish(0, "powered off") })
	return s, vm
}

func dial(t *testing.T, name string) *Client {
	t.Helper()
	c, err := Dial(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
