package sandbox

import (
	"os"
	"path/filepath"
	"strings"
)

// guestOwnDirs are the trees the guest does not see from the host's root:
// the init mounts its own proc, sysfs, devtmpfs and an empty tmpfs there.
var guestOwnDirs = []string{"/proc", "/sys", "/dev", "/tmp"}

// hostLookPath finds a command name in env's PATH the way the guest's init
// would (exec.LookPath), but on the host: the guest's root is the host's
// root, so the file is the same, and the init is spared the lookups, a
// round trip to the host's 9p server or two for each directory it tries
// (the first PATH entries usually miss). It gives "" when the guest must
// look itself: a name with a slash, a PATH entry that is relative or in a
// tree the guest has its own copy of, or no match.
func hostLookPath(name string, env []string) string {
	return lookPathBeside(name, env, guestOwnDirs)
}

// lookPathBeside is hostLookPath with the guest's own trees given.
func lookPathBeside(name string, env []string, guestOwn []string) string {
	if name == "" || strings.Contains(name, "/") {
		return ""
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) || under(dir, guestOwn) {
			return ""
		}
		file := filepath.Join(dir, name)
		if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return file
		}
	}
	return ""
}

// under says whether an absolute path is in one of the trees.
func under(p string, trees []string) bool {
	p = filepath.Clean(p)
	for _, d := range trees {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
