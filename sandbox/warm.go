package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gokvm/gokvm/sandbox/guestinit"
	"log"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gokvm/gokvm/machine"
	"golang.org/x/sys/unix"
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

// fileID is what tells a file changed: its place, size and modification
// time. Hashing a kernel and gokvm on every run would cost more than the
// restore it saves.
type fileID struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
}

func idOf(path string) (fileID, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileID{}, err
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return fileID{}, &os.PathError{Op: "stat", Path: abs, Err: err}
	}
	return fileID{Path: abs, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size, Mtime: st.Mtim.Nano()}, nil
}

// dirID is one of guestinit.WarmDirs as the host has it: what the saved
// guest's cached dentry stands for. Absent paths are part of the key too.
type dirID struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode"` // lstat's file type bits; 0 when absent
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Target string `json:"target,omitempty"` // a symlink's
	// TargetDev and TargetIno are what the path resolves to.
	TargetDev uint64 `json:"target_dev,omitempty"`
	TargetIno uint64 `json:"target_ino,omitempty"`
}

// warmDirs and warmCachedFiles are guestinit.WarmDirs and WarmFiles (tests key
// on their own).
var warmDirs, warmCachedFiles = guestinit.WarmDirs, guestinit.WarmFiles

func dirIDOf(path string) dirID {
	id := dirID{Path: path}
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return id
	}
	id.Mode, id.Dev, id.Ino = st.Mode&unix.S_IFMT, uint64(st.Dev), uint64(st.Ino)
	if id.Mode == unix.S_IFLNK {
		id.Target, _ = os.Readlink(path)
		if unix.Stat(path, &st) == nil {
			id.TargetDev, id.TargetIno = uint64(st.Dev), uint64(st.Ino)
		}
	}
	return id
}

// cachedFileID is one of guestinit.WarmFiles as the host has it: the
// saved guest holds its contents, so what it resolves to must not have
// changed (its size and modification time, beside dirID's identities).
type cachedFileID struct {
	dirID
	Size  int64 `json:"size,omitempty"`
	Mtime int64 `json:"mtime_ns,omitempty"`
}

func cachedFileIDOf(path string) cachedFileID {
	id := cachedFileID{dirID: dirIDOf(path)}
	var st unix.Stat_t
	if id.Mode != 0 && unix.Stat(path, &st) == nil {
		id.Size, id.Mtime = st.Size, st.Mtim.Nano()
	}
	return id
}

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
	for _, d := range warmDirs {
		k.Dirs = append(k.Dirs, dirIDOf(d))
	}
	for _, f := range warmCachedFiles {
		k.Files = append(k.Files, cachedFileIDOf(f))
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
