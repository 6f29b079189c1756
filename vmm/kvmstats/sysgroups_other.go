//go:build !arm

package kvmstats

import "golang.org/x/sys/unix"

// archSyscallGroups are the calls of 64-bit architectures that 32-bit
// ARM names otherwise.
var archSyscallGroups = map[uint64]string{unix.SYS_MMAP: "memory"}
