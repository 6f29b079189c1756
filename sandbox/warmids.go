package sandbox

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/sandbox/guestinit"
)

// The identities the warm key (warmKey) is made of: of the files that
// make the machine (kernel, init, modules), and of the host files the
// saved guest holds in its caches (guestinit.WarmDirs and WarmFiles),
// which the guest's cache=loose 9p root never asks the host about again.
// Hashing contents on every run would cost more than the restore saves,
// so a file is told by where it is and its inode's times: a change of
// contents moves its modification time or, when that was put back (cp -p,
// rsync -t), its change time (ctime), which no one can set. A file that
// changes between the key and the save (its read in the booting guest)
// leaves a machine saved under its old identity, which no later run has
// again: it is never restored.

// fileID is a file that makes the machine.
type fileID struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
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
	return fileID{Path: abs, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}

// dirID is one of guestinit.WarmDirs as the guest sees it: what the saved
// guest's cached dentry stands for. Absent paths are part of the key too
// (as is a path that did not stat: the guest could not have cached it).
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

// cachedFileID is one of guestinit.WarmFiles as the guest sees it: the
// saved guest holds its contents, so what it resolves to must not have
// changed either (its size and times, beside dirID's identities). A
// directory's times are not keyed: they move with every file added.
type cachedFileID struct {
	dirID
	Size  int64 `json:"size,omitempty"`
	Mtime int64 `json:"mtime_ns,omitempty"`
	Ctime int64 `json:"ctime_ns,omitempty"`
}

// warmDirs and warmCachedFiles are guestinit.WarmDirs and WarmFiles
// (tests key on their own).
var warmDirs, warmCachedFiles = guestinit.WarmDirs, guestinit.WarmFiles

// guestView looks paths up as the guest sees them: root, the root share's
// directory, is its /, and a symlink's absolute target is under root
// (openat2's RESOLVE_IN_ROOT). Where openat2 is missing (Linux before
// 5.6) or refused, paths are joined to root, which resolves an absolute
// symlink in the host's /: the same thing when root is /.
type guestView struct {
	root string
	fd   int // root, O_PATH; -1 without openat2
}

func openGuestView(root string) (*guestView, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	v := &guestView{root: root, fd: fd}
	probe, err := v.openat2(".", 0)
	if err != nil {
		// No openat2 (ENOSYS), or a container's filter refuses it
		// (EPERM): join paths instead.
		unix.Close(fd)
		v.fd = -1
		return v, nil
	}
	unix.Close(probe)
	return v, nil
}

func (v *guestView) close() {
	if v.fd >= 0 {
		unix.Close(v.fd)
	}
}

func (v *guestView) openat2(path string, flags int) (int, error) {
	for {
		fd, err := unix.Openat2(v.fd, path, &unix.OpenHow{Flags: uint64(flags | unix.O_PATH | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT})
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
	}
}

// stat is path's stat (lstat with follow false) and, for a symlink not
// followed, its target.
func (v *guestView) stat(path string, follow bool) (st unix.Stat_t, target string, err error) {
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	if v.fd < 0 {
		full := filepath.Join(v.root, rel)
		if follow {
			return st, "", unix.Stat(full, &st)
		}
		if err = unix.Lstat(full, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, _ = os.Readlink(full)
		}
		return st, target, err
	}
	flags := 0
	if !follow {
		flags = unix.O_NOFOLLOW
	}
	fd, err := v.openat2(rel, flags)
	if err != nil {
		return st, "", err
	}
	defer unix.Close(fd)
	if err = unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, unix.PathMax)
		if n, err := unix.Readlinkat(fd, "", buf); err == nil {
			target = string(buf[:n])
		}
	}
	return st, target, err
}

// identify is path's dirID and the stat of what it resolves to (nil when
// it does not resolve): one lstat, and a stat more for a symlink only.
func (v *guestView) identify(path string) (dirID, *unix.Stat_t) {
	id := dirID{Path: path}
	st, target, err := v.stat(path, false)
	if err != nil {
		return id, nil
	}
	id.Mode, id.Dev, id.Ino, id.Target = st.Mode&unix.S_IFMT, uint64(st.Dev), uint64(st.Ino), target
	if id.Mode != unix.S_IFLNK {
		return id, &st
	}
	resolved, _, err := v.stat(path, true)
	if err != nil {
		return id, nil
	}
	id.TargetDev, id.TargetIno = uint64(resolved.Dev), uint64(resolved.Ino)
	return id, &resolved
}

func (v *guestView) dirID(path string) dirID {
	id, _ := v.identify(path)
	return id
}

func (v *guestView) cachedFileID(path string) cachedFileID {
	dir, st := v.identify(path)
	id := cachedFileID{dirID: dir}
	if st != nil {
		id.Size, id.Mtime, id.Ctime = st.Size, st.Mtim.Nano(), st.Ctim.Nano()
	}
	return id
}
