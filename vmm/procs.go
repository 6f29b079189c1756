package vmm

import (
	"runtime"
	"sync"
)

// A vcpu thread spends its life in KVM_RUN. As a plain system call, that
// let the Go scheduler take the thread's P (its right to run Go code)
// away while the guest ran (sysmon retakes the P of a thread in a system
// call when no P is idle), so at each MMIO exit the vcpu found no P free,
// and it, the device goroutine it had notified and the runtime's idle
// threads woke one another several times per guest request (issue #22: a
// runtime trace showed the retakes).
//
// So each vcpu thread owns a P while its vcpu runs: it enters KVM_RUN
// without telling the scheduler (kvm.Vcpu.RunKeepingP), and GOMAXPROCS is
// raised by one per running vcpu so that the device goroutines and the
// rest of the program keep the Ps they had. Several machines in one
// process add up, and the last one to stop puts back what the process
// had before the first.

// vcpuProcs is the process's count of running vcpus and the GOMAXPROCS
// it had before the first.
var vcpuProcs struct {
	mu     sync.Mutex
	vcpus  int
	before int // GOMAXPROCS before the first vcpu ran
	set    int // what addVcpuProcs last set, to notice a change by others
}

// addVcpuProcs raises GOMAXPROCS by n while n more vcpus run; the
// returned func, called once when they have stopped, lowers it again.
func addVcpuProcs(n int) (release func()) {
	if n <= 0 {
		return func() {}
	}
	vcpuProcs.mu.Lock()
	defer vcpuProcs.mu.Unlock()
	if vcpuProcs.vcpus == 0 {
		vcpuProcs.before = runtime.GOMAXPROCS(0)
	} else if cur := runtime.GOMAXPROCS(0); cur != vcpuProcs.set {
		// Someone else set it while vcpus ran: theirs is the base.
		vcpuProcs.before = max(1, cur-vcpuProcs.vcpus)
	}
	vcpuProcs.vcpus += n
	vcpuProcs.set = vcpuProcs.before + vcpuProcs.vcpus
	runtime.GOMAXPROCS(vcpuProcs.set)
	var once sync.Once
	return func() { once.Do(func() { removeVcpuProcs(n) }) }
}

func removeVcpuProcs(n int) {
	vcpuProcs.mu.Lock()
	defer vcpuProcs.mu.Unlock()
	if cur := runtime.GOMAXPROCS(0); cur != vcpuProcs.set {
		vcpuProcs.before = max(1, cur-vcpuProcs.vcpus)
	}
	vcpuProcs.vcpus -= n
	vcpuProcs.set = vcpuProcs.before + vcpuProcs.vcpus
	runtime.GOMAXPROCS(vcpuProcs.set)
}
