package machine

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gokvm/gokvm/vmm"
	guestmem "github.com/gokvm/gokvm/vmm/memory"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

// Version is gokvm's version as the state files it writes name it; the
// command sets it from its build (git describe).
var Version = "dev"

// RAMFileSuffix names a state file's RAM file: FILE.ram beside FILE.
const RAMFileSuffix = ".ram"

// Snapshot saves the machine to state (the state file) and ram (guest
// RAM, FILE.ram beside it; ramName is its name as the state file records
// it). The machine is paused for it and resumed afterwards unless stop,
// in which case a saved machine stays paused for the caller to stop; one
// that could not be saved is resumed all the same (the caller will not
// stop it). The files are the caller's, opened before Run: a running
// machine's system call filter lets it open no file for writing.
func (m *Machine) Snapshot(state io.Writer, ram *os.File, ramName string, stop bool) (err error) {
	if m.spec.Transport == TransportPCI {
		// Said at once, before the machine pauses: its virtio-pci
		// devices, and an MSI controller's state, are not saved yet.
		return fmt.Errorf("snapshot: %w: a machine with --virtio-transport pci is not saved yet (its PCI functions' configuration spaces, BARs and MSI-X tables, and an ITS's tables, are not in the state file); --virtio-transport mmio makes one that can be", vmm.ErrNotSaveable)
	}
	wasPaused := m.Paused()
	if !wasPaused {
		if err := m.Pause(); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	defer func() {
		if !wasPaused && (!stop || err != nil) {
			m.Resume()
		}
	}()
	host, sections, err := m.SaveState(ram)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	spec, err := json.Marshal(m.spec)
	if err != nil {
		return err
	}
	mem := m.Memory()
	h := snapshot.Header{Version: Version, Arch: m.arch(), Host: host, Spec: spec,
		RAM: snapshot.RAM{File: ramName, Base: mem.Base(), Size: mem.Size()}}
	if err := snapshot.Write(state, h, sections); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// arch names the guest architecture.
func (m *Machine) arch() string {
	if m.spec.AArch32 {
		return "arm"
	}
	return "arm64"
}

// Saved is a state file opened for a restore.
type Saved struct {
	// File is the state file, read and checked.
	File *snapshot.File
	// Spec is the saved machine's spec.
	Spec Spec
	// WorkingSet, when set, is prefaulted beside the restore
	// (vmm.Restore.WorkingSet).
	WorkingSet guestmem.WorkingSet
	ram        *os.File
}

// Close closes the RAM file (the restored machine maps it and no longer
// needs the descriptor).
func (s *Saved) Close() error { return s.ram.Close() }

// OpenSaved reads and checks a state file and opens its RAM file. A file
// that is not one, cut short, edited, written by a newer gokvm or for
// another architecture is a vmm.ConfigError naming what is wrong.
func OpenSaved(path string) (*Saved, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore: %w", err)}
	}
	defer f.Close()
	sf, err := snapshot.Read(f)
	if err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore %s: %w", path, err)}
	}
	var spec Spec
	if err := json.Unmarshal(sf.Header.Spec, &spec); err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore %s: its spec: %w", path, err)}
	}
	want := "arm64"
	if spec.AArch32 {
		want = "arm"
	}
	if sf.Header.Arch != want {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore %s: a %s machine's state names arch %q (corrupt)", path, want, sf.Header.Arch)}
	}
	name := sf.Header.RAM.File
	if name == "" || filepath.Base(name) != name {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore %s: its RAM file %q is not a name beside it", path, name)}
	}
	ram, err := os.Open(filepath.Join(filepath.Dir(path), name))
	if err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--restore %s: its RAM file: %w", path, err)}
	}
	return &Saved{File: sf, Spec: spec, ram: ram}, nil
}
