package vmm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nameThread names the calling OS thread (its comm, at most 15 bytes), so
// that ps, top and /proc show which thread runs which vcpu.
func nameThread(name string) {
	b := make([]byte, 16)
	copy(b[:15], name)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// pinThread restricts the calling OS thread to cpus.
func pinThread(cpus []int) error {
	if len(cpus) == 0 {
		return nil
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pinning to CPUs %v: %w", cpus, err)
	}
	return nil
}

// schedParam is struct sched_param: the static priority, 0 for every
// policy but the real-time ones.
type schedParam struct{ priority int32 }

// setSchedPolicy sets thread tid's (0: the calling thread's) scheduling
// policy, a non-real-time one, keeping its niceness (the kernel takes it
// from the thread).
func setSchedPolicy(tid, policy int) error {
	var p schedParam
	if _, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, uintptr(tid), uintptr(policy), uintptr(unsafe.Pointer(&p))); errno != 0 {
		return errno
	}
	return nil
}

// schedPolicy is thread tid's (0: the calling thread's) scheduling
// policy.
func schedPolicy(tid int) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
