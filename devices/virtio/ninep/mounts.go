package ninep

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A share stays on the mount of its own directory: a walk that would
// cross a mount point (into /proc below a share of /, say) finds nothing
// (openat2's RESOLVE_NO_XDEV refuses it with EXDEV, which the guest is
// told as ENOENT: Linux's 9p client makes a negative dentry of ENOENT
// only, and overlayfs, the sandbox's root, fails a lookup on any other
// error, so a mount point would break the lookup of its name instead of
// leaving it to the guest to make). Readdir still lists the mount
// point's name, as the directory below it has it. Other mounts below the
// directory are entered only when the share lists them (Options.Mounts):
// the sandbox's share of / lists /usr, /home... where they are mounts of
// their own, so that the host's files are there but its kernel's are not.
// A mount is told apart by its mount ID (statx's STATX_MNT_ID), which no
// rename or bind mount of the guest's can change.

// pseudoFS are the file system types a share never enters, even when
// listed: they are the host kernel's own state (a process's memory under
// /proc/PID/mem, every process's environment, the kernel log, the
// devices), not files a guest has any business with.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "debugfs": true,
	"tracefs": true, "securityfs": true, "cgroup": true, "cgroup2": true, "bpf": true,
	"pstore": true, "efivarfs": true, "configfs": true, "fusectl": true, "mqueue": true,
	"hugetlbfs": true, "binfmt_misc": true, "autofs": true, "selinuxfs": true, "nsfs": true,
	"rpc_pipefs": true, "nfsd": true, "binder": true,
}

// PseudoFS reports whether fstype (as /proc/self/mountinfo names it) is
// one of the kernel's own file systems, which no share enters.
func PseudoFS(fstype string) bool { return pseudoFS[fstype] }

// pseudoMagic names the kernel file systems by statfs's f_type, for
// kernels whose statx has no mount ID (before Linux 5.8), where a mount
// is told by its device number and its type by its magic. (devtmpfs is
// a tmpfs by its magic: such a kernel cannot tell it from one.)
var pseudoMagic = map[uint32]string{
	unix.PROC_SUPER_MAGIC: "proc", unix.SYSFS_MAGIC: "sysfs", unix.DEVPTS_SUPER_MAGIC: "devpts",
	unix.DEBUGFS_MAGIC: "debugfs", unix.TRACEFS_MAGIC: "tracefs", unix.SECURITYFS_MAGIC: "securityfs",
	unix.CGROUP_SUPER_MAGIC: "cgroup", unix.CGROUP2_SUPER_MAGIC: "cgroup2", unix.BPF_FS_MAGIC: "bpf",
	unix.PSTOREFS_MAGIC: "pstore", unix.EFIVARFS_MAGIC: "efivarfs", unix.HUGETLBFS_MAGIC: "hugetlbfs",
	unix.BINFMTFS_MAGIC: "binfmt_misc", unix.AUTOFS_SUPER_MAGIC: "autofs", unix.SELINUX_MAGIC: "selinuxfs",
	unix.NSFS_MAGIC: "nsfs",
}

// magicFSType names fd's file system by its magic: a kernel one's name,
// or "" for any other.
func magicFSType(fd int) (string, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return "", err
	}
	return pseudoMagic[uint32(st.Type)], nil
}

// mountID is the ID of the mount that fd's file is on.
func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, unix.ENOSYS
	}
	return stx.Mnt_id, nil
}

// MountFSType is the type of the file system mounted where path's file
// is (a mount's root or any file on it), from /proc/self/mountinfo.
func MountFSType(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	id, err := mountID(fd)
	if err != nil {
		return magicFSType(fd)
	}
	return mountFSType(id)
}

// mountFSType finds mount id in /proc/self/mountinfo: "ID PARENT
// MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
func mountFSType(id uint64) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := strconv.FormatUint(id, 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != want {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				return fields[i+1], nil
			}
		}
		return "", fmt.Errorf("mount %s: malformed /proc/self/mountinfo line", want)
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("mount %s is not in /proc/self/mountinfo", want)
}

// listedMounts are the mounts a share may be on beyond its directory's:
// by mount ID, or where the kernel has none, by device number.
type listedMounts struct {
	ids  map[uint64]bool
	devs map[uint64]bool
}

// allowedMounts finds the listed mounts. A listed path of a kernel file
// system is an error naming it.
func allowedMounts(rootFd int, dir string, listed []string) (*listedMounts, error) {
	if len(listed) == 0 {
		return nil, nil
	}
	_, noIDs := mountID(rootFd)
	l := &listedMounts{ids: map[uint64]bool{}, devs: map[uint64]bool{}}
	for _, p := range listed {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", p, &os.PathError{Op: "open", Path: p, Err: err})
		}
		err = l.add(fd, noIDs != nil)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", p, err)
		}
	}
	return l, nil
}

// add lists the mount of fd's file, unless it is a kernel file system.
func (l *listedMounts) add(fd int, byDevice bool) error {
	var typ string
	var key uint64
	if byDevice {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		t, err := magicFSType(fd)
		if err != nil {
			return err
		}
		typ, key = t, st.Dev
	} else {
		id, err := mountID(fd)
		if err != nil {
			return err
		}
		t, err := mountFSType(id)
		if err != nil {
			return err
		}
		typ, key = t, id
	}
	if PseudoFS(typ) {
		return fmt.Errorf("%s, the host kernel's own state, which no share serves", typ)
	}
	if byDevice {
		l.devs[key] = true
	} else {
		l.ids[key] = true
	}
	return nil
}
