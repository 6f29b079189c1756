package kvmstats

import "golang.org/x/sys/unix"

// archSyscallGroups are 32-bit ARM's own calls: mmap2, and the 64-bit-time
// calls a C library with a 64-bit time_t (and Go, for futex) makes.
var archSyscallGroups = map[uint64]string{
	unix.SYS_MMAP2:                  "memory",
	unix.SYS_FUTEX_TIME64:           "futex",
	unix.SYS_CLOCK_NANOSLEEP_TIME64: "idle",
	unix.SYS_PPOLL_TIME64:           "poll",
	unix.SYS_PSELECT6_TIME64:        "poll",
}
