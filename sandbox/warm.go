package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/machine"
)

// A warm sandbox (Options.Warm) keeps a saved machine in a directory:
// booted, its modules loaded, its init waiting for a command. A run finds
// the one made for its kernel, modules, init, gokvm and machine, restores
// it and gives it the command; a run that finds none, or one that does
// not open as a whole state file, boots, saves the machine when its init
// is ready, and runs its command in the machine it booted.
//
// The files of one machine are KEY.state and KEY.ram, KEY a hash of all
// that makes the machine (warmKey), and KEY.lock: a run restoring holds
// it shared until its machine has mapped the files, a run saving holds it
// exclusive from before it creates them until the save is done, so no
// run reads half a file. A saving run creates new files (a restore still
// holding the old ones keeps them) and writes them in place: the system
// call filter lets a running machine create or rename nothing, and a
// save cut short leaves a file the next run refuses and saves again.

// warmFiles is one saved machine's place in the directory.
type warmFiles struct {
	dir, key string
}

func (w warmFiles) state() string   { return filepath.Join(w.dir, w.key+".state") }
func (w warmFiles) ramName() string { return w.key + machine.RAMFileSuffix }
func (w warmFiles) ram() string     { return filepath.Join(w.dir, w.ramName()) }
func (w warmFiles) lock() string    { return filepath.Join(w.dir, w.key+".lock") }

// warmKey names the saved machine for everything that makes it: gokvm's
// version, the kernel, the init, each module, the machine's spec (its
// kernel command line, vcpus, memory, devices and shares) without what a
// restore may change (the timeout, and which mounts the root share
// enters: the command's directory decides it), the host directories
// whose dentries the saved guest holds (guestinit.WarmDirs) and the
// files whose contents it holds (guestinit.WarmFiles).
func warmKey(spec machine.Spec, initPath string, mods []Module, modulesDir string) (string, error) {
	type key struct {
		Version string         `json:"version"`
		Kernel  fileID         `json:"kernel"`
		Init    fileID         `json:"init"`
		Modules []fileID       `json:"modules"`
		Spec    machine.Spec   `json:"spec"`
		Dirs    []dirID        `json:"dirs"`
		Files   []cachedFileID `json:"files"`
	}
	k := key{Version: machine.Version}
	var err error
	if k.Kernel, err = idOf(spec.Kernel); err != nil {
		return "", fmt.Errorf("the kernel: %w", err)
	}
	if k.Init, err = idOf(initPath); err != nil {
		return "", fmt.Errorf("the init: %w", err)
	}
	paths := []string{}
	if modulesDir != "" {
		paths = append(paths, filepath.Join(modulesDir, "modules.dep"))
	}
	for _, m := range mods {
		paths = append(paths, m.Path)
	}
	for _, p := range paths {
		id, err := idOf(p)
		if err != nil {
			return "", fmt.Errorf("the modules: %w", err)
		}
		k.Modules = append(k.Modules, id)
	}
	root := "/"
	for _, sh := range spec.Shares {
		if sh.Tag == RootTag {
			root = sh.Dir
		}
	}
	view, err := openGuestView(root)
	if err != nil {
		return "", fmt.Errorf("the root: %w", err)
	}
	defer view.close()
	for _, d := range warmDirs {
		k.Dirs = append(k.Dirs, view.dirID(d))
	}
	for _, f := range warmCachedFiles {
		k.Files = append(k.Files, view.cachedFileID(f))
	}
	spec.Timeout = ""
	spec.Shares = append([]machine.Share(nil), spec.Shares...)
	for i := range spec.Shares {
		if spec.Shares[i].Tag == RootTag {
			spec.Shares[i].Mounts = nil
		}
	}
	k.Spec = spec
	b, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// warmStart is what a warm run found in the directory: a saved machine to
// restore, or files to save one into, or neither (another run is saving
// it: this one boots and saves nothing).
type warmStart struct {
	files warmFiles
	lock  *os.File

	saved *machine.Saved // restore this

	state, ram *os.File // save into these
}

// openWarm looks in dir for the machine key names, and takes its lock.
// With reuse false a saved machine there is not restored but saved again
// (it failed to restore).
func openWarm(dir, key string, reuse bool, logger *log.Logger) (*warmStart, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--warm: %w", err)
	}
	w := &warmStart{files: warmFiles{dir: dir, key: key}}
	lock, err := os.OpenFile(w.files.lock(), os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--warm: %w", err)
	}
	w.lock = lock
	if reuse && unix.Flock(int(lock.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		saved, err := machine.OpenSaved(w.files.state())
		if err == nil {
			w.saved = saved
			return w, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			logger.Printf("--warm: saving the machine again: %v", err)
		}
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		// Another run holds it: it restores, or saves the machine
		// this run would.
		logger.Printf("--warm: another run is saving this machine; booting without it")
		w.close()
		return &warmStart{files: w.files}, nil
	}
	if err := w.create(); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// create makes new, empty state and RAM files in place of the old.
func (w *warmStart) create() error {
	for _, p := range []string{w.files.state(), w.files.ram(), w.files.workingSet()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--warm: %w", err)
		}
	}
	var err error
	if w.state, err = os.OpenFile(w.files.state(), os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600); err != nil {
		return fmt.Errorf("--warm: %w", err)
	}
	if w.ram, err = os.OpenFile(w.files.ram(), os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600); err != nil {
		return fmt.Errorf("--warm: %w", err)
	}
	return nil
}

// saving reports whether this run saves the machine.
func (w *warmStart) saving() bool { return w != nil && w.state != nil }

// close lets other runs have the files: after a restore mapped them, or
// once the save is written.
func (w *warmStart) close() {
	if w == nil {
		return
	}
	for _, f := range []*os.File{w.state, w.ram, w.lock} {
		if f != nil {
			f.Close()
		}
	}
	w.state, w.ram, w.lock = nil, nil, nil
}
