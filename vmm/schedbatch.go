package vmm

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// helperPolicy is the process-wide state of BatchHelperThreads, which
// acts once: whether it has, what it found, and whether the vcpu threads
// Run starts must take SCHED_OTHER back.
var helperPolicy struct {
	mu      sync.Mutex
	decided bool
	batched bool
	err     error
}

// BatchHelperThreads puts the process's threads on SCHED_BATCH, after
// which the vcpu threads Run starts go back to SCHED_OTHER. Only threads
// on plain SCHED_OTHER change: a policy someone chose (chrt, a thread of
// the caller's own) stays, and when the calling thread is not on plain
// SCHED_OTHER nothing changes at all.
//
// Why: a helper thread (a device's queue worker, the Go runtime's sysmon,
// an idle thread woken from the network poller) that wakes on a vcpu's
// CPU preempts the vcpu under SCHED_OTHER, and the guest stops until the
// helper sleeps again; gokvm's helpers did so several times per disk or
// network request where kvmtool's threads did far less
// (docs/benchmarks.md). A SCHED_BATCH thread does not preempt on
// wake-up; it runs on an idle CPU, or when the vcpu blocks or its time
// slice ends. Niceness and CPU shares are those of SCHED_OTHER, so the
// helpers get the same CPU time, only later.
//
// It changes the whole process for good, and the policy passes on to
// the processes it starts: for a process that runs virtual machines, as
// gokvm does, not a library's caller by surprise (machine.Options and
// sandbox.Options ask for it). Threads made afterwards take SCHED_BATCH
// from the thread that makes them: the Go runtime makes a thread from an
// unlocked one, or from its template thread when the caller is locked to
// its thread (runtime.newm), never from a vcpu's. So only the first call
// acts; later ones return what it returned, and make no system call,
// which matters under a system call filter: call it before one that lets
// a thread change only its own policy, as gokvm's does.
func BatchHelperThreads() error {
	helperPolicy.mu.Lock()
	defer helperPolicy.mu.Unlock()
	if helperPolicy.decided {
		return helperPolicy.err
	}
	helperPolicy.decided = true
	policy, err := schedPolicy(0)
	if err != nil {
		helperPolicy.err = fmt.Errorf("reading gokvm's scheduling policy: %w", err)
		return helperPolicy.err
	}
	if policy != unix.SCHED_NORMAL {
		return nil
	}
	changed, err := batchNormalThreads()
	// Once one thread is on SCHED_BATCH, the vcpu threads made from it
	// must take SCHED_OTHER back, whatever became of the others.
	helperPolicy.batched = changed > 0
	helperPolicy.err = err
	return err
}

// vcpuThreadPolicy gives the calling (vcpu) thread SCHED_OTHER back when
// BatchHelperThreads put the process on SCHED_BATCH.
func vcpuThreadPolicy() error {
	helperPolicy.mu.Lock()
	batched := helperPolicy.batched
	helperPolicy.mu.Unlock()
	if !batched {
		return nil
	}
	if err := setSchedPolicy(0, unix.SCHED_NORMAL); err != nil {
		return fmt.Errorf("returning to SCHED_OTHER from the helpers' SCHED_BATCH: %w", err)
	}
	return nil
}

// maxTaskPasses bounds batchNormalThreads' passes over /proc/self/task:
// threads the runtime makes during a pass come from threads not changed
// yet, so it walks the list again until a pass changes nothing.
const maxTaskPasses = 8

// batchNormalThreads puts every thread of the process that is on plain
// SCHED_OTHER (no reset-on-fork flag either) on SCHED_BATCH, and says how
// many it changed.
func batchNormalThreads() (int, error) {
	changed := 0
	for range maxTaskPasses {
		tids, err := processThreads()
		if err != nil {
			return changed, err
		}
		n, err := batchListed(tids)
		changed += n
		if err != nil || n == 0 {
			return changed, err
		}
	}
	return changed, fmt.Errorf("putting gokvm's threads on SCHED_BATCH: threads were still being made after %d passes over /proc/self/task", maxTaskPasses)
}

// batchListed puts those of tids on plain SCHED_OTHER on SCHED_BATCH,
// and says how many it changed. A thread that ended since the list was
// read is no error.
func batchListed(tids []int) (changed int, err error) {
	for _, tid := range tids {
		policy, err := schedPolicy(tid)
		if err == nil && policy == unix.SCHED_NORMAL {
			if err = setSchedPolicy(tid, unix.SCHED_BATCH); err == nil {
				changed++
			}
		}
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return changed, fmt.Errorf("putting thread %d on SCHED_BATCH: %w", tid, err)
		}
	}
	return changed, nil
}

// processThreads lists the process's thread ids.
func processThreads() ([]int, error) {
	entries, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing gokvm's threads: %w", err)
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
