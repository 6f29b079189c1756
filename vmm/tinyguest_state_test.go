package vmm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/memory"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

// SaveState and RestoreState make the test device a vmm.StateDevice: its
// count of stores is its state.
func (d *testDevice) SaveState() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return binary.LittleEndian.AppendUint64(nil, d.count), nil
}

func (d *testDevice) RestoreState(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.count = binary.LittleEndian.Uint64(b)
	return nil
}

// saveTiny pauses tv's running machine and saves it into dir, through the
// state file's format, and returns the file read back.
func saveTiny(t *testing.T, tv *tinyVM, dir string) (*snapshot.File, *os.File) {
	t.Helper()
	if err := tv.m.Pause(); err != nil {
		t.Fatal(err)
	}
	ram, err := os.Create(filepath.Join(dir, "ram"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ram.Close() })
	host, sections, err := tv.m.SaveState(ram)
	if err != nil {
		t.Fatalf("SaveState: %v", err)
	}
	mem := tv.m.Memory()
	var b bytes.Buffer
	h := snapshot.Header{Version: "test", Arch: "arm64", Host: host, RAM: snapshot.RAM{File: "ram", Base: mem.Base(), Size: mem.Size()}}
	if err := snapshot.Write(&b, h, sections); err != nil {
		t.Fatal(err)
	}
	f, err := snapshot.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	return f, ram
}

// restoreTiny makes a machine from a saved tiny guest, with a test device
// of its own.
func restoreTiny(f *snapshot.File, ram *os.File, dev *testDevice, t *testing.T, ws ...memory.PageUse) (*vmm.Machine, error) {
	cfg := vmm.Config{
		CPUs: 1, MemSize: f.Header.RAM.Size, MemBase: f.Header.RAM.Base, MemBaseSet: true,
		Devices: []vmm.DeviceSpec{dev.spec()},
		Log:     log.New(testLog{t}, "", 0),
		Restore: &vmm.Restore{State: f, RAM: ram},
	}
	if ws != nil {
		// ws is the first pages' use; the rest untouched.
		set := make(memory.WorkingSet, f.Header.RAM.Size/4096)
		copy(set, ws)
		cfg.Restore.WorkingSet = set
	}
	return vmm.New(cfg, arm64.New(arm64.Options{NoRNGSeed: true}))
}

// TestTinyGuestSaveRestore: a counting guest saved while it runs goes on
// counting in a machine restored from the state, from where it was: the
// first value the restored guest stores is one more than the last the
// saved one stored (the count is in a register, x2, and RAM holds its
// code). A state claiming the other GIC is refused, naming it.
func TestTinyGuestSaveRestore(t *testing.T) {
	tv, ch, cancel := startCounting(t)
	f, ram := saveTiny(t, tv, t.TempDir())
	last := tv.dev.Last()
	cancel()
	expect(t, wait(t, ch, 10*time.Second), vmm.OutcomeStopped)

	dev := &testDevice{}
	// With a working set, prefaulted beside the restore: 3 pages read,
	// 2 written.
	m, err := restoreTiny(f, ram, dev, t, memory.PageRead, memory.PageWritten, memory.PageRead, memory.PageWritten, memory.PageRead)
	if err != nil {
		t.Fatalf("restoring: %v", err)
	}
	defer m.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	// (Count goes on from the saved device's; the stores seen are new.)
	waitFor(t, "the restored guest to count", 10*time.Second, func() bool { _, w := dev.Writes(); return len(w) > 1 })
	stop()
	<-done
	_, writes := dev.Writes()
	if len(writes) == 0 || writes[0].Value != last+1 {
		t.Fatalf("the restored guest's first store: %+v, want %d (the saved guest's last was %d)", writes, last+1, last)
	}
	if ok, r, w, _, err := m.Prefaulted(); !ok || r != 3 || w != 2 || err != nil {
		t.Errorf("the prefault: ran %v, %d pages read and %d written, %v; want 3 and 2", ok, r, w, err)
	}
	steps := m.Stats().Startup
	if i := slices.IndexFunc(steps, func(s vmm.StartupStep) bool { return s.Name == "working set prefaulted" }); i < 0 {
		t.Errorf("the start-up steps %+v lack the prefault", steps)
	}

	other := "gicv2"
	if f.Header.Host.GIC == "gicv2" {
		other = "gicv3"
	}
	f.Header.Host.GIC = other
	if _, err := restoreTiny(f, ram, &testDevice{}, t); err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("a state of a %s restored on this host's %s GIC: %v", other, f.Header.Host.GIC, err)
	}
}
