package ninep

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gokvm/gokvm/vmm"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// Share is a host directory served over 9P2000.L, the p9.Attacher of the
// device's server. Every file the guest reaches is found one name at a time
// from a file descriptor of its directory, with openat2's RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS (and never a name that is "", "." or ".." or has
// a "/"): a symlink, absolute or relative, is a file the guest can read the
// target of but never goes through, so nothing outside the directory is
// reachable, whatever the guest or a race of renames does. Nor is another
// file system mounted inside it, unless the share lists that mount
// (mounts.go). A read-only share refuses every change with EROFS. Files
// the guest creates belong to the user running gokvm: the guest's uids and
// gids are ignored. The share holds a bounded number of descriptors
// (budget.go).
type Share struct {
	dir      string
	root     int // O_PATH|O_DIRECTORY descriptor of dir
	readOnly bool
	rootDev  uint64
	rootIno  uint64

	// mounts are the mounts the share may be on beyond its directory's
	// when it lists some; nil when it stays on its directory's mount,
	// which RESOLVE_NO_XDEV enforces. rootMount is that mount's ID (0
	// where statx cannot tell it: mounts are then told by device).
	mounts    *listedMounts
	rootMount uint64

	files    fileBudget
	counters shareCounters

	closeOnce sync.Once
}

var _ p9.Attacher = (*Share)(nil)

// Options are how a directory is shared.
type Options struct {
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// Mounts are mount points below the directory that the guest may
	// enter (the sandbox's share of / lists /usr, /home...). Every other
	// mount below it is not there for the guest (ENOENT). A kernel file system
	// (PseudoFS) cannot be listed.
	Mounts []string
	// MaxFiles is how many host descriptors the share may hold (a
	// walked file holds one, an opened one two); DefaultMaxFiles when 0.
	MaxFiles int
}

// OpenShare opens dir for serving. A dir that is missing or not a
// directory, or a listed mount that cannot be served, is a
// vmm.ConfigError.
func OpenShare(dir string, o Options) (*Share, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("9p share %s: not a directory", dir)}
		}
		return nil, &vmm.ConfigError{Err: fmt.Errorf("9p share %s: %w", dir, &os.PathError{Op: "open", Path: dir, Err: err})}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("9p share %s: %w", dir, err)
	}
	mounts, err := allowedMounts(fd, dir, o.Mounts)
	if err != nil {
		unix.Close(fd)
		return nil, &vmm.ConfigError{Err: fmt.Errorf("9p share %s: %w", dir, err)}
	}
	s := &Share{dir: dir, root: fd, readOnly: o.ReadOnly, rootDev: st.Dev, rootIno: st.Ino, mounts: mounts}
	// Where openat2 is missing, the fallback checks each file's mount
	// itself; 0 (no STATX_MNT_ID) falls back to the device number.
	s.rootMount, _ = mountID(fd)
	s.files.max = o.MaxFiles
	if s.files.max <= 0 {
		s.files.max = DefaultMaxFiles
	}
	// RLIMIT_NOFILE is read now, before a system call filter may forbid
	// it.
	initProcessFiles()
	return s, nil
}

// Dir is the shared directory as given.
func (s *Share) Dir() string { return s.dir }

// ReadOnly reports whether the share refuses changes.
func (s *Share) ReadOnly() bool { return s.readOnly }

// Close closes the share's directory. Files the server still holds keep
// their own descriptors.
func (s *Share) Close() error {
	var err error
	s.closeOnce.Do(func() { err = unix.Close(s.root) })
	return err
}

// Attach implements p9.Attacher: the share's root.
func (s *Share) Attach() (p9.File, error) {
	fd, err := s.dup(s.root)
	if err != nil {
		return nil, err
	}
	return &file{s: s, fd: fd, ioFd: -1}, nil
}

// counted opens a descriptor with open, within the share's budget.
func (s *Share) counted(open func() (int, error)) (int, error) {
	if err := s.files.take(); err != nil {
		return -1, err
	}
	fd, err := open()
	if err != nil {
		s.files.give()
		return -1, err
	}
	return fd, nil
}

// closeFd closes a descriptor the budget counted.
func (s *Share) closeFd(fd int) {
	unix.Close(fd)
	s.files.give()
}

// dup duplicates fd, counted.
func (s *Share) dup(fd int) (int, error) {
	return s.counted(func() (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) })
}

// file is one node of the share: an O_PATH descriptor of it (of the link
// itself for a symlink), and once opened a descriptor for I/O.
type file struct {
	p9.DefaultWalkGetAttr

	s  *Share
	fd int

	mu   sync.Mutex // guards ioFd's directory position (Readdir)
	ioFd int        // -1 until Open or Create
}

var _ p9.File = (*file)(nil)

// validName refuses what must never be resolved as one name.
func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0) {
		return unix.EINVAL
	}
	return nil
}

// openBeneath opens name in the directory dirfd, never leaving it: one
// component, no symlink followed (O_NOFOLLOW leaves a symlink itself as
// the result with O_PATH), no magic links, nothing above dirfd, no other
// mount but those the share lists; counted in the share's budget.
func (s *Share) openBeneath(dirfd int, name string, flags int, mode uint32) (int, error) {
	if err := validName(name); err != nil {
		return -1, err
	}
	return s.counted(func() (int, error) { return s.openat(dirfd, name, flags, mode) })
}

func (s *Share) openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if s.mounts == nil {
		how.Resolve |= unix.RESOLVE_NO_XDEV
	}
	if how.Flags&unix.O_CREAT == 0 {
		how.Mode = 0
	}
	for {
		fd, err := unix.Openat2(dirfd, name, &how)
		switch err {
		case nil:
			if s.mounts != nil {
				return s.onListedMount(fd)
			}
			return fd, nil
		case unix.EINTR:
			continue
		case unix.ENOSYS:
			// Before Linux 5.6 (or under a filter that refuses
			// openat2): one checked name with O_NOFOLLOW is confined
			// just as well, and the mount is checked here.
			fd, err := unix.Openat(dirfd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
			if err != nil {
				return -1, err
			}
			return s.onListedMount(fd)
		}
		if err == unix.ELOOP && flags&unix.O_PATH == 0 {
			// RESOLVE_NO_SYMLINKS on a final symlink.
			return -1, unix.ELOOP
		}
		if err == unix.EXDEV {
			// RESOLVE_NO_XDEV: a mount point (one name, never "..").
			return -1, unix.ENOENT
		}
		return -1, err
	}
}

// onListedMount keeps fd when its file is on a mount the share may enter,
// and closes it with ENOENT otherwise (mounts.go says why not EXDEV).
func (s *Share) onListedMount(fd int) (int, error) {
	ok := false
	if id, err := mountID(fd); err == nil && s.rootMount != 0 {
		ok = id == s.rootMount || s.mounts != nil && s.mounts.ids[id]
	} else {
		// No mount IDs (before Linux 5.8): by device number.
		var st unix.Stat_t
		ok = unix.Fstat(fd, &st) == nil && (st.Dev == s.rootDev || s.mounts != nil && s.mounts.devs[st.Dev])
	}
	if !ok {
		unix.Close(fd)
		return -1, unix.ENOENT
	}
	return fd, nil
}

// procPath names the descriptor fd through /proc, to reach exactly the
// file it holds (for calls that take no descriptor, or to reopen an
// O_PATH one) without resolving any path of the share.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func (f *file) stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(f.fd, &st)
	return st, err
}

func (f *file) qid(st *unix.Stat_t) p9.QID {
	return p9.QID{Type: p9.FileMode(st.Mode).QIDType(), Path: f.s.qidPath(st.Dev, st.Ino)}
}

// qidPath makes a file's QID path: its inode, set apart by a hash of the
// device for files on another file system mounted inside the share.
func (s *Share) qidPath(dev, ino uint64) uint64 {
	if dev == s.rootDev {
		return ino
	}
	return ino ^ (dev*0x9e3779b97f4a7c15)&^(1<<48-1) | 1<<63
}

// Walk implements p9.File: each name from the directory reached so far.
func (f *file) Walk(names []string) ([]p9.QID, p9.File, error) {
	fd, err := f.s.dup(f.fd)
	if err != nil {
		return nil, nil, err
	}
	qids := make([]p9.QID, 0, len(names))
	for _, name := range names {
		next, err := f.s.openBeneath(fd, name, unix.O_PATH, 0)
		f.s.closeFd(fd)
		if err != nil {
			return nil, nil, err
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			f.s.closeFd(fd)
			return nil, nil, err
		}
		qids = append(qids, f.qid(&st))
	}
	return qids, &file{s: f.s, fd: fd, ioFd: -1}, nil
}

// StatFS implements p9.File.
func (f *file) StatFS() (p9.FSStat, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(f.fd, &s); err != nil {
		return p9.FSStat{}, err
	}
	return p9.FSStat{
		Type:            uint32(s.Type),
		BlockSize:       uint32(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		FSID:            uint64(uint32(s.Fsid.Val[0])) | uint64(uint32(s.Fsid.Val[1]))<<32,
		NameLength:      uint32(s.Namelen),
	}, nil
}

// GetAttr implements p9.File.
func (f *file) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	st, err := f.stat()
	if err != nil {
		return p9.QID{}, p9.AttrMask{}, p9.Attr{}, err
	}
	attr := p9.Attr{
		Mode:             p9.FileMode(st.Mode),
		UID:              p9.UID(st.Uid),
		GID:              p9.GID(st.Gid),
		NLink:            p9.NLink(st.Nlink),
		RDev:             p9.Dev(st.Rdev),
		Size:             uint64(st.Size),
		BlockSize:        uint64(st.Blksize),
		Blocks:           uint64(st.Blocks),
		ATimeSeconds:     uint64(st.Atim.Sec),
		ATimeNanoSeconds: uint64(st.Atim.Nsec),
		MTimeSeconds:     uint64(st.Mtim.Sec),
		MTimeNanoSeconds: uint64(st.Mtim.Nsec),
		CTimeSeconds:     uint64(st.Ctim.Sec),
		CTimeNanoSeconds: uint64(st.Ctim.Nsec),
	}
	valid := p9.AttrMask{Mode: true, NLink: true, UID: true, GID: true, RDev: true, ATime: true, MTime: true,
		CTime: true, INo: true, Size: true, Blocks: true}
	return f.qid(&st), valid, attr, nil
}

// permBits is what the guest may set of a mode: permissions and the
// sticky bit, never set-user-ID or set-group-ID (gokvm may run as root).
func permBits(m p9.FileMode) uint32 { return uint32(m) & 0o1777 }

// SetAttr implements p9.File. Owners are not changed (the guest's uids
// mean nothing on the host): a chown succeeds and does nothing.
func (f *file) SetAttr(valid p9.SetAttrMask, attr p9.SetAttr) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	st, err := f.stat()
	if err != nil {
		return err
	}
	typ := st.Mode & unix.S_IFMT
	if typ != unix.S_IFREG && typ != unix.S_IFDIR {
		if valid.Permissions || valid.Size || valid.ATime || valid.MTime {
			return unix.EPERM
		}
		return nil
	}
	if valid.Permissions {
		if st.Dev == f.s.rootDev && st.Ino == f.s.rootIno && permBits(attr.Permissions)&^st.Mode&0o077 != 0 {
			// The share's root is the user's directory on the host:
			// the guest may close it, never open it to the host's
			// other users. (p9's EPERM: a unix.EPERM reaches the
			// guest as EACCES, by os.ErrPermission.)
			return linux.EPERM
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, procPath(f.fd), permBits(attr.Permissions), 0); err != nil {
			return err
		}
	}
	if valid.Size {
		if typ == unix.S_IFDIR {
			return unix.EISDIR
		}
		fd, err := f.s.counted(func() (int, error) { return unix.Open(procPath(f.fd), unix.O_WRONLY|unix.O_CLOEXEC, 0) })
		if err != nil {
			return err
		}
		err = unix.Ftruncate(fd, int64(attr.Size))
		f.s.closeFd(fd)
		if err != nil {
			return err
		}
	}
	if valid.ATime || valid.MTime {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if valid.ATime {
			ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid.ATimeNotSystemTime {
				ts[0] = timespec(attr.ATimeSeconds, attr.ATimeNanoSeconds)
			}
		}
		if valid.MTime {
			ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid.MTimeNotSystemTime {
				ts[1] = timespec(attr.MTimeSeconds, attr.MTimeNanoSeconds)
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(f.fd), ts, 0); err != nil {
			return err
		}
	}
	return nil
}

// timespec is a time the guest gave, as the host takes it.
func timespec(sec, nsec uint64) unix.Timespec {
	return unix.NsecToTimespec(int64(sec)*1e9 + int64(nsec%1e9))
}

// Close implements p9.File.
func (f *file) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ioFd >= 0 {
		f.s.closeFd(f.ioFd)
		f.ioFd = -1
	}
	if f.fd >= 0 {
		f.s.closeFd(f.fd)
		f.fd = -1
	}
	return nil
}

// 9P2000.L open flags gokvm honours beyond the access mode.
const (
	dotlTrunc = 0o1000
	dotlDSync = 0o10000
	dotlSync  = 0o4000000
)

// Open implements p9.File: regular files and directories only (a FIFO
// would block the server, a device node would reach the host's devices).
func (f *file) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	st, err := f.stat()
	if err != nil {
		return p9.QID{}, 0, err
	}
	acc := int(mode & p9.OpenFlagsModeMask)
	if acc == 3 {
		return p9.QID{}, 0, unix.EINVAL
	}
	writes := acc != unix.O_RDONLY || mode&dotlTrunc != 0
	if writes && f.s.readOnly {
		return p9.QID{}, 0, unix.EROFS
	}
	flags := acc | unix.O_CLOEXEC | unix.O_NOCTTY
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if writes {
			return p9.QID{}, 0, unix.EISDIR
		}
		flags |= unix.O_DIRECTORY
	case unix.S_IFREG:
		if mode&dotlTrunc != 0 {
			flags |= unix.O_TRUNC
		}
		if mode&dotlDSync != 0 {
			flags |= unix.O_DSYNC
		}
		if mode&dotlSync == dotlSync {
			flags |= unix.O_SYNC
		}
	case unix.S_IFLNK:
		return p9.QID{}, 0, unix.ELOOP
	default:
		return p9.QID{}, 0, unix.EACCES
	}
	fd, err := f.s.counted(func() (int, error) { return unix.Open(procPath(f.fd), flags, 0) })
	if err != nil {
		return p9.QID{}, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ioFd >= 0 {
		// Opened already (two Tlopens at once): replacing the
		// descriptor would close it under a read in progress, whose
		// number the next open could then give to another file.
		f.s.closeFd(fd)
		return p9.QID{}, 0, unix.EINVAL
	}
	f.ioFd = fd
	return f.qid(&st), 0, nil
}

func (f *file) io() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ioFd < 0 {
		return -1, unix.EBADF
	}
	return f.ioFd, nil
}

// ReadAt implements p9.File.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	fd, err := f.io()
	if err != nil {
		return 0, err
	}
	n := 0
	defer func() { f.s.counters.read(n) }()
	for n < len(p) {
		m, err := unix.Pread(fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

// WriteAt implements p9.File.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if f.s.readOnly {
		return 0, unix.EROFS
	}
	fd, err := f.io()
	if err != nil {
		return 0, err
	}
	n := 0
	defer func() { f.s.counters.wrote(n) }()
	for n < len(p) {
		m, err := unix.Pwrite(fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// FSync implements p9.File. A read-only share wrote nothing to sync (and
// its system call filter has no fsync).
func (f *file) FSync() error {
	fd, err := f.io()
	if err != nil || f.s.readOnly {
		return err
	}
	return unix.Fsync(fd)
}

// Extended attributes are not served; setting one on a read-only share is
// refused as every other change is.
func (f *file) SetXattr(string, []byte, p9.XattrFlags) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	return unix.EOPNOTSUPP
}

func (f *file) GetXattr(string) ([]byte, error) { return nil, unix.EOPNOTSUPP }
func (f *file) ListXattrs() ([]string, error)   { return nil, unix.EOPNOTSUPP }

func (f *file) RemoveXattr(string) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	return unix.EOPNOTSUPP
}

// Lock implements p9.File: locks are the guest's own business (as with
// QEMU's 9p server); it is told each one is granted.
func (f *file) Lock(int, p9.LockType, p9.LockFlags, uint64, uint64, string) (p9.LockStatus, error) {
	return p9.LockStatusOK, nil
}

func (f *file) entryQID(dir int, name string) (p9.QID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return p9.QID{}, err
	}
	return f.qid(&st), nil
}

// Create implements p9.File: a new regular file, opened.
func (f *file) Create(name string, mode p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	if f.s.readOnly {
		return nil, p9.QID{}, 0, unix.EROFS
	}
	acc := int(mode & p9.OpenFlagsModeMask)
	if acc == 3 {
		acc = unix.O_RDWR
	}
	fd, err := f.s.openBeneath(f.fd, name, acc|unix.O_CREAT|unix.O_EXCL, permBits(perm)&0o777)
	if err != nil {
		return nil, p9.QID{}, 0, err
	}
	pfd, err := f.s.counted(func() (int, error) { return unix.Open(procPath(fd), unix.O_PATH|unix.O_CLOEXEC, 0) })
	if err != nil {
		f.s.closeFd(fd)
		return nil, p9.QID{}, 0, err
	}
	nf := &file{s: f.s, fd: pfd, ioFd: fd}
	st, err := nf.stat()
	if err != nil {
		nf.Close()
		return nil, p9.QID{}, 0, err
	}
	return nf, nf.qid(&st), 0, nil
}

// Mkdir implements p9.File.
func (f *file) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if f.s.readOnly {
		return p9.QID{}, unix.EROFS
	}
	if err := validName(name); err != nil {
		return p9.QID{}, err
	}
	if err := unix.Mkdirat(f.fd, name, permBits(perm)); err != nil {
		return p9.QID{}, err
	}
	return f.entryQID(f.fd, name)
}

// Symlink implements p9.File: the link may point anywhere, since the
// share never follows a link.
func (f *file) Symlink(target, name string, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if f.s.readOnly {
		return p9.QID{}, unix.EROFS
	}
	if err := validName(name); err != nil {
		return p9.QID{}, err
	}
	if strings.ContainsRune(target, 0) {
		return p9.QID{}, unix.EINVAL
	}
	if err := unix.Symlinkat(target, f.fd, name); err != nil {
		return p9.QID{}, err
	}
	return f.entryQID(f.fd, name)
}

// Link implements p9.File: a hard link to target, a file of the share.
func (f *file) Link(target p9.File, name string) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	if err := validName(name); err != nil {
		return err
	}
	t, ok := target.(*file)
	if !ok || t.s != f.s {
		return unix.EXDEV
	}
	return unix.Linkat(unix.AT_FDCWD, procPath(t.fd), f.fd, name, unix.AT_SYMLINK_FOLLOW)
}

// Mknod implements p9.File: FIFOs, sockets and regular files; never
// device nodes.
func (f *file) Mknod(name string, mode p9.FileMode, _, _ uint32, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if f.s.readOnly {
		return p9.QID{}, unix.EROFS
	}
	if err := validName(name); err != nil {
		return p9.QID{}, err
	}
	typ := uint32(mode) & unix.S_IFMT
	switch typ {
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFREG, 0:
	default:
		return p9.QID{}, unix.EPERM
	}
	if err := unix.Mknodat(f.fd, name, typ|permBits(mode)&0o777, 0); err != nil {
		return p9.QID{}, err
	}
	return f.entryQID(f.fd, name)
}

// Rename implements p9.File; the server uses RenameAt.
func (f *file) Rename(p9.File, string) error { return unix.ENOSYS }

// RenameAt implements p9.File: both names in directories of the share.
func (f *file) RenameAt(oldName string, newDir p9.File, newName string) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	d, ok := newDir.(*file)
	if !ok || d.s != f.s {
		return unix.EXDEV
	}
	if err := validName(oldName); err != nil {
		return err
	}
	if err := validName(newName); err != nil {
		return err
	}
	return unix.Renameat(f.fd, oldName, d.fd, newName)
}

// UnlinkAt implements p9.File.
func (f *file) UnlinkAt(name string, flags uint32) error {
	if f.s.readOnly {
		return unix.EROFS
	}
	if err := validName(name); err != nil {
		return err
	}
	return unix.Unlinkat(f.fd, name, int(flags)&unix.AT_REMOVEDIR)
}

// Readdir implements p9.File: entries from the directory position offset
// (0, or an entry's Offset), as many as fit in count bytes.
func (f *file) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ioFd < 0 {
		return nil, unix.EBADF
	}
	if _, err := unix.Seek(f.ioFd, int64(offset), io.SeekStart); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.ioFd, &st); err != nil {
		return nil, err
	}
	buf := make([]byte, min(int(count), 64<<10)+512)
	var out p9.Dirents
	size := 0
	for {
		n, err := unix.Getdents(f.ioFd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: ino u64, off s64, reclen u16,
			// type u8, name.
			reclen := int(le16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return out, nil
			}
			ino, off, typ := le64(b), le64(b[8:]), b[18]
			name := b[19:reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			size += 13 + 8 + 1 + 2 + len(name)
			if size > int(count) {
				return out, nil
			}
			qt := direntQIDType(typ)
			out = append(out, p9.Dirent{
				QID:    p9.QID{Type: qt, Path: f.s.qidPath(st.Dev, ino)},
				Offset: off,
				Type:   qt,
				Name:   string(name),
			})
		}
	}
}

func direntQIDType(t uint8) p9.QIDType {
	switch t {
	case unix.DT_DIR:
		return p9.TypeDir
	case unix.DT_LNK:
		return p9.TypeSymlink
	}
	return p9.TypeRegular
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// Readlink implements p9.File.
func (f *file) Readlink() (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(f.fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Renamed implements p9.File: a file is its descriptor, not a path, so a
// rename changes nothing here.
func (f *file) Renamed(p9.File, string) {}
