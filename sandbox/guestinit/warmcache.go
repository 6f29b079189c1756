package guestinit

import (
	"os"

	"golang.org/x/sys/unix"
)

// WarmDirs are the host directories a warm init looks up before gokvm
// saves the machine: where commands, the dynamic loader, the C library
// and /etc are. The host's root is mounted with cache=loose, so the saved
// guest keeps these directories' dentries, and every restored run is
// spared the 9p round trips (a walk and a getattr) of looking each up
// again. Only directories: their contents are looked up afresh. gokvm
// keys the saved machine on their identity (sandbox's warmKey): a
// directory replaced on the host, a symlink pointed elsewhere, saves a new
// machine rather than restore one whose cached directory is gone. Paths
// missing on a host cost nothing.
var WarmDirs = []string{
	"/bin", "/sbin", "/lib", "/etc",
	"/usr", "/usr/bin", "/usr/sbin", "/usr/lib",
	"/usr/local", "/usr/local/bin", "/usr/local/sbin",
	"/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf",
	"/lib/aarch64-linux-gnu", "/lib/arm-linux-gnueabihf",
	"/lib64", "/usr/lib64", // Fedora, Amazon Linux, openSUSE
}

// WarmFiles are the host files a warm init reads whole before gokvm saves
// the machine, so that their pages are in the saved guest's page cache:
// the shell most commands start, and what every dynamically linked
// command maps (the dynamic loader, the C library, the loader's cache).
// A restored run's exec then finds them in its RAM instead of reading
// them over 9p, which was most of a warm run's exec (a static busybox
// read whole took 60-100 ms in the emulated host; docs/benchmarks.md).
// cache=loose never asks the host again, so gokvm keys the saved machine
// on each file's identity, size, modification and change times, and on
// the symlink that names it (warmKey): a file changed on the host saves a
// new machine rather than serve its old contents. Paths missing on a host
// cost nothing.
var WarmFiles = []string{
	"/bin/sh",
	"/etc/ld.so.cache",
	"/lib/ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/libc.so.6",
	"/lib64/libc.so.6", // where Fedora's and Amazon Linux's C library is
	"/lib/ld-musl-aarch64.so.1",
	"/lib/ld-linux-armhf.so.3", "/lib/arm-linux-gnueabihf/libc.so.6",
	"/lib/ld-musl-armhf.so.1",
}

// warmFileLimit bounds what one of WarmFiles adds to the saved machine:
// a file's first pages are the ones an exec maps first.
const warmFileLimit = 8 << 20

// fillWarmCaches looks up WarmDirs (following symlinks) in the command's
// root, so their dentries are in the saved machine, and reads WarmFiles
// into its page cache.
func fillWarmCaches() {
	for _, d := range WarmDirs {
		os.Stat(d)
	}
	readWarmFiles(WarmFiles, warmFileLimit)
}

// readWarmFiles reads each regular file of paths, up to limit bytes each,
// and says how many bytes it read in all. Anything else is skipped
// unread: a FIFO would block the save, a device could be endless.
func readWarmFiles(paths []string, limit int) int {
	buf := make([]byte, 256<<10) // big reads: few 9p round trips
	total := 0
	for _, p := range paths {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			for n := 0; n < limit; {
				m, err := unix.Read(fd, buf[:min(len(buf), limit-n)])
				if err == unix.EINTR {
					continue
				}
				if err != nil || m <= 0 {
					break
				}
				n += m
				total += m
			}
		}
		unix.Close(fd)
	}
	return total
}
