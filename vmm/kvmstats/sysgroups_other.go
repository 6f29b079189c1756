//go:build !arm

package kvmstats

import "golang.org/x/sys/unix"

// archSyscallGroup sorts the calls of 64-bit architectures that 32-bit ARM
// names otherwise (mmap). Any other call is "other".
func archSyscallGroup(nr uint64) string {
	if nr == unix.SYS_MMAP {
		return "memory"
	}
	return "other"
}
