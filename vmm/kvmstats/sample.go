package kvmstats

import (
	"errors"
	"fmt"
)

// Sample reads another process's counters now: its VM's KVM statistics
// from debugfs (a VM descriptor of another process cannot be asked for
// KVM_GET_STATS_FD: KVM refuses a VM's ioctls from outside the process
// that made it) and its threads' from /proc. It needs root (debugfs) and
// debugfs mounted at /sys/kernel/debug. What could be read comes back
// even when a part could not, with an error saying which.
func Sample(pid int) (Counters, error) {
	return SampleAt(DebugfsKVM, "/proc", pid)
}

// SampleAt is Sample with debugfs's KVM directory at kvmDir and /proc at
// procDir.
func SampleAt(kvmDir, procDir string, pid int) (Counters, error) {
	c, procErr := ReadProcess(procDir, pid)
	if c == nil {
		c = Counters{}
	}
	if procErr != nil {
		procErr = fmt.Errorf("host counters: %w", procErr)
	}
	kvm, kvmErr := readDebugfs(kvmDir, procDir, pid)
	if kvmErr != nil {
		kvmErr = fmt.Errorf("KVM statistics: %w", kvmErr)
	}
	c.Add(kvm)
	return c, errors.Join(procErr, kvmErr)
}

func readDebugfs(kvmDir, procDir string, pid int) (Counters, error) {
	dir, err := FindVMDir(kvmDir, procDir, pid)
	if err != nil {
		return nil, err
	}
	vm, err := OpenDebugfsVM(dir)
	if err != nil {
		return nil, err
	}
	return vm.Read()
}
