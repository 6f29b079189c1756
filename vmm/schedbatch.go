package vmm

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Scheduling policies (linux/sched.h).
const (
	schedOther = 0
	schedBatch = 3
)

// helperPolicy is the process-wide state of BatchHelperThreads: whether
// the helper threads were put on SCHED_BATCH, so that Run's vcpu threads
// take SCHED_OTHER back.
var helperPolicy struct {
	mu      sync.Mutex
	batched bool
}

// BatchHelperThreads puts every thread of the process on SCHED_BATCH,
// after which the vcpu threads Run starts go back to SCHED_OTHER. It
// changes nothing when the process is not on SCHED_OTHER: whoever chose
// another policy (chrt) keeps it, vcpus included.
//
// Why: a helper thread (a device's queue worker, the Go runtime's poller
// and sysmon) that wakes on a vcpu's CPU preempts the vcpu under
// SCHED_OTHER, and the guest stops until the helper sleeps again; gokvm's
// helpers did so several times per disk or network request where
// kvmtool's threads did far less (docs/benchmarks.md). A SCHED_BATCH
// thread does not preempt on wake-up; it runs on an idle CPU, or when the
// vcpu blocks or its time slice ends. Niceness and CPU shares are those
// of SCHED_OTHER, so the helpers get the same CPU time, only later.
//
// Threads made afterwards take SCHED_BATCH from the thread that makes
// them (the Go runtime makes them from an unlocked thread, or from its
// template thread, never from a vcpu's locked one). Call it before a
// system call filter that allows sched_setscheduler only on the calling
// thread, as gokvm's does: it changes other threads. It may be called
// again, by each machine a process runs.
func BatchHelperThreads() error {
	helperPolicy.mu.Lock()
	defer helperPolicy.mu.Unlock()
	if !helperPolicy.batched {
		policy, err := schedPolicy(0)
		if err != nil {
			return fmt.Errorf("reading gokvm's scheduling policy: %w", err)
		}
		if policy != schedOther {
			return nil
		}
	}
	changed, err := setEveryThreadPolicy(schedBatch)
	// Once one thread is on SCHED_BATCH, the vcpu threads made from it
	// must take SCHED_OTHER back, whatever became of the others.
	helperPolicy.batched = helperPolicy.batched || changed > 0
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
	if err := setSchedPolicy(0, schedOther); err != nil {
		return fmt.Errorf("returning to SCHED_OTHER from the helpers' SCHED_BATCH: %w", err)
	}
	return nil
}

// maxTaskPasses bounds setEveryThreadPolicy's passes over
// /proc/self/task: threads the runtime makes during a pass come from
// threads not changed yet, so it walks the list again until a pass finds
// nothing new.
const maxTaskPasses = 8

// setEveryThreadPolicy gives every thread of the process policy, and
// says how many threads it changed.
func setEveryThreadPolicy(policy int) (changed int, err error) {
	done := map[int]bool{}
	for range maxTaskPasses {
		tids, err := processThreads()
		if err != nil {
			return changed, err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			fresh++
			done[tid] = true
			switch err := setSchedPolicy(tid, policy); {
			case err == nil:
				changed++
			case errors.Is(err, unix.ESRCH): // it ended since the list was read
			default:
				return changed, fmt.Errorf("setting thread %d's scheduling policy: %w", tid, err)
			}
		}
		if fresh == 0 {
			return changed, nil
		}
	}
	return changed, fmt.Errorf("setting every thread's scheduling policy: threads were still being made after %d passes over /proc/self/task", maxTaskPasses)
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
