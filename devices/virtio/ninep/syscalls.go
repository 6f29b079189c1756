package ninep

// The system calls a Share makes while the guest runs, beyond reads,
// writes and closes, for a system call filter to allow when the machine
// has shares. They are named as golang.org/x/sys/unix makes them on
// 64-bit Linux (its SYS_ constants in lower case): on another
// architecture the filter allows what x/sys/unix makes there instead
// (fstat64 for fstat on 32-bit ARM).

// ReadSystemCalls are what every share makes, a read-only one too: names
// resolved and files opened (openat2; openat where the kernel has no
// openat2), their descriptors duplicated (fcntl F_DUPFD_CLOEXEC), files
// and file systems statted (statx for the mount ID: statx(fd, "",
// AT_EMPTY_PATH, STATX_MNT_ID)), files and links read, directories
// listed.
var ReadSystemCalls = []string{
	"openat2", "openat", "fcntl", "fstat", "newfstatat", "fstatfs", "statx",
	"getdents64", "lseek", "pread64", "readlinkat",
}

// WriteSystemCalls are what only a writable share makes: files written,
// synced, truncated, made, linked, renamed and removed, their modes and
// times set. Opening for writing and creating are openat2's and openat's
// flags: a filter for read-only shares allows openat only for reading.
var WriteSystemCalls = []string{
	"pwrite64", "fsync", "ftruncate", "mkdirat", "symlinkat", "linkat",
	"mknodat", "renameat", "renameat2", "unlinkat", "fchmodat", "utimensat",
}
