package guestinit

import "os"

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
}

// lookUpWarmDirs looks up WarmDirs (following symlinks) in the command's
// root, so their dentries are in the saved machine.
func lookUpWarmDirs() {
	for _, d := range WarmDirs {
		os.Stat(d)
	}
}
