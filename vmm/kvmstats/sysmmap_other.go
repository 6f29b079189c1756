//go:build !arm

package kvmstats

import "golang.org/x/sys/unix"

// sysMmap is mmap's system call number.
const sysMmap = unix.SYS_MMAP
