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
