package seccomp

import "slices"

// arches are the architectures the filter knows.
var arches = []string{"amd64", "arm64", "arm"}

// unixNames are the system calls golang.org/x/sys/unix makes under another
// name on an architecture than on 64-bit Linux (amd64, arm64): on 32-bit
// ARM, the calls with 64-bit file offsets and sizes, and mmap2. The
// tests check each one against x/sys/unix's source.
var unixNames = map[string]map[string]string{
	"arm": {
		"fcntl":      "fcntl64",     // fcntl64Syscall (fcntl_linux_32bit.go)
		"fstat":      "fstat64",     // Fstat
		"newfstatat": "fstatat64",   // Fstatat
		"fstatfs":    "fstatfs64",   // Fstatfs
		"statfs":     "statfs64",    // Statfs
		"lseek":      "_llseek",     // Seek, through syscall.seek
		"ftruncate":  "ftruncate64", // Ftruncate
		"truncate":   "truncate64",  // Truncate
		"sendfile":   "sendfile64",  // Sendfile
		"mmap":       "mmap2",       // Mmap
	},
}

// UnixCall is c, named as golang.org/x/sys/unix makes it on 64-bit Linux,
// for every architecture c applies to: where x/sys/unix makes it under
// another name (fstat64 for fstat on 32-bit ARM), an entry of that name
// limited to that architecture (Only). A list of the calls some code
// makes through x/sys/unix (a 9p share's) goes through UnixCall, so that
// it allows on each architecture what the code calls there.
func UnixCall(c Call) []Call {
	var out []Call
	for _, arch := range arches {
		if !c.AppliesTo(arch) {
			continue
		}
		name := c.Name
		if n, ok := unixNames[arch][name]; ok {
			name = n
		}
		i := slices.IndexFunc(out, func(o Call) bool { return o.Name == name })
		if i < 0 {
			o := c
			o.Name, o.Only = name, nil
			out = append(out, o)
			i = len(out) - 1
		}
		out[i].Only = append(out[i].Only, arch)
	}
	if len(out) == 1 && len(c.Only) == 0 {
		out[0].Only = nil // every architecture, as c was
	}
	return out
}

// AppliesTo says whether the entry is for GOARCH goarch.
func (c Call) AppliesTo(goarch string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, goarch)
}
