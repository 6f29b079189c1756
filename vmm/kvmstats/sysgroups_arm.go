package kvmstats

import "golang.org/x/sys/unix"

// archSyscallGroup sorts 32-bit ARM's own calls: mmap2, and the
// 64-bit-time calls a C library with a 64-bit time_t (and Go, for futex)
// makes. Any other call is "other".
func archSyscallGroup(nr uint64) string {
	switch nr {
	case unix.SYS_MMAP2:
		return "memory"
	case unix.SYS_FUTEX_TIME64:
		return "futex"
	case unix.SYS_CLOCK_NANOSLEEP_TIME64:
		return "idle"
	case unix.SYS_PPOLL_TIME64, unix.SYS_PSELECT6_TIME64:
		return "poll"
	}
	return "other"
}
