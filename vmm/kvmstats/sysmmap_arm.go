package kvmstats

import "golang.org/x/sys/unix"

// sysMmap is the mmap that 32-bit ARM's C libraries and Go call.
const sysMmap = unix.SYS_MMAP2
