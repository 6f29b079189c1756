package vmm

import (
	"errors"
	"fmt"
	"log"
	"runtime"
	"sync"
	"testing"

	"github.com/gokvm/gokvm/vmm/seccomp"
	"golang.org/x/sys/unix"
)

func init() {
	children["sched-from-other"] = schedFromOther
	children["sched-from-batch"] = schedFromBatch
	children["sched-under-filter"] = schedUnderFilter
}

// TestBatchHelperThreads runs each scenario in a child process of its
// own: BatchHelperThreads acts once per process.
func TestBatchHelperThreads(t *testing.T) {
	for _, what := range []string{"sched-from-other", "sched-from-batch", "sched-under-filter"} {
		t.Run(what, func(t *testing.T) { runChild(t, what) })
	}
}

// schedFromOther: a process on SCHED_OTHER, one of whose threads its
// owner put on SCHED_IDLE. The helpers go to SCHED_BATCH, that thread
// keeps its policy, a vcpu thread takes SCHED_OTHER back and keeps it
// through a second call, and threads made while it runs are helpers.
func schedFromOther() error {
	if err := setEveryThreadPolicy(unix.SCHED_NORMAL); err != nil { // whatever the test runs under
		return err
	}
	stopParked := parkThreads(4)
	defer stopParked()
	idle := startThread()
	defer idle.stop()
	if err := idle.do(func() error { return setSchedPolicy(0, unix.SCHED_IDLE) }); err != nil {
		return fmt.Errorf("putting a thread on SCHED_IDLE: %w", err)
	}
	if err := BatchHelperThreads(); err != nil {
		return err
	}
	own := map[int]int{idle.tid: unix.SCHED_IDLE}
	if err := everyThreadOn(unix.SCHED_BATCH, own); err != nil {
		return err
	}
	vcpu := startThread()
	defer vcpu.stop()
	if err := vcpu.do(vcpuThreadPolicy); err != nil {
		return err
	}
	own[vcpu.tid] = unix.SCHED_NORMAL
	if err := vcpu.do(func() error { return threadsMadeOn(unix.SCHED_BATCH) }); err != nil {
		return err
	}
	// As a second machine's Run: nothing changes, the vcpu's included.
	if err := BatchHelperThreads(); err != nil {
		return fmt.Errorf("second call: %w", err)
	}
	return everyThreadOn(unix.SCHED_BATCH, own)
}

// schedFromBatch: a process its user put on SCHED_BATCH (chrt -b) keeps
// it everywhere, the vcpu thread's included.
func schedFromBatch() error {
	if err := setEveryThreadPolicy(unix.SCHED_BATCH); err != nil {
		return err
	}
	if err := BatchHelperThreads(); err != nil {
		return err
	}
	vcpu := startThread()
	defer vcpu.stop()
	if err := vcpu.do(vcpuThreadPolicy); err != nil {
		return err
	}
	return everyThreadOn(unix.SCHED_BATCH, nil)
}

// schedUnderFilter: the first call before gokvm's system call filter,
// the second, from another machine's Run, under it (where listing or
// changing other threads ends the process), and a vcpu thread that takes
// SCHED_OTHER back under it.
func schedUnderFilter() error {
	if err := setEveryThreadPolicy(unix.SCHED_NORMAL); err != nil {
		return err
	}
	if err := BatchHelperThreads(); err != nil {
		return err
	}
	vcpu := startThread() // a helper until its loop would start
	defer vcpu.stop()
	// The test reads the vcpu thread's policy, and no other: a second
	// call that read or changed any policy would end the process.
	extra := []seccomp.Call{{Name: "sched_getscheduler", Why: "test: reads the vcpu thread's policy",
		Args: &seccomp.ArgRule{Index: 0, Values: []seccomp.Value{{V: uint32(vcpu.tid), Name: "the vcpu thread", Why: "test"}}}}}
	if _, err := seccomp.Install(seccomp.Options{Mode: seccomp.On, Prefix: "child: ", ExitStatus: 9, Extra: extra}); errors.Is(err, seccomp.ErrCgo) {
		return childSkip("the test binary links cgo (-race?), whose libc threads the filter forbids (Install refuses)")
	} else if err != nil {
		return err
	}
	if err := BatchHelperThreads(); err != nil {
		return fmt.Errorf("second call, under the filter: %w", err)
	}
	if err := vcpu.do(vcpuThreadPolicy); err != nil {
		return err
	}
	if got, err := schedPolicy(vcpu.tid); err != nil || got != unix.SCHED_NORMAL {
		return fmt.Errorf("the vcpu thread has policy %d (%v) under the filter, want SCHED_OTHER", got, err)
	}
	return nil
}

// setEveryThreadPolicy gives every thread of the process policy, as
// chrt would give a process at its start: over and over until a pass
// over the list finds no thread it has not seen, since the runtime may
// make a thread from one not changed yet.
func setEveryThreadPolicy(policy int) error {
	seen := map[int]bool{}
	for range maxTaskPasses {
		tids, err := processThreads()
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if !seen[tid] {
				seen[tid] = true
				fresh++
			}
			if err := setSchedPolicy(tid, policy); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d to policy %d: %w", tid, policy, err)
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("threads were still being made after %d passes", maxTaskPasses)
}

// lockedThread is a goroutine locked to its OS thread, which runs what
// it is given there until stopped; the thread is retired with it.
type lockedThread struct {
	tid  int
	work chan func()
}

func startThread() *lockedThread {
	l := &lockedThread{work: make(chan func())}
	tid := make(chan int)
	go func() {
		runtime.LockOSThread()
		tid <- unix.Gettid()
		for fn := range l.work {
			fn()
		}
	}()
	l.tid = <-tid
	return l
}

func (l *lockedThread) do(fn func() error) error {
	errc := make(chan error, 1)
	l.work <- func() { errc <- fn() }
	return <-errc
}

func (l *lockedThread) stop() { close(l.work) }

// parkThreads makes n threads, each parked by a locked goroutine, until
// the returned function is called.
func parkThreads(n int) (release func()) {
	var ts []*lockedThread
	for range n {
		ts = append(ts, startThread())
	}
	return func() {
		for _, t := range ts {
			t.stop()
		}
	}
}

// everyThreadOn checks every thread has policy, but those in own, which
// must have theirs.
func everyThreadOn(policy int, own map[int]int) error {
	tids, err := processThreads()
	if err != nil {
		return err
	}
	for _, tid := range tids {
		want, ok := own[tid]
		if !ok {
			want = policy
		}
		got, err := schedPolicy(tid)
		if errors.Is(err, unix.ESRCH) { // a retired thread, gone since the list was read
			continue
		}
		if err != nil {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
		if got != want {
			return fmt.Errorf("thread %d of %d has policy %d, want %d", tid, len(tids), got, want)
		}
	}
	return nil
}

// threadsMadeOn checks that threads the runtime makes while the caller
// (a vcpu thread, locked) runs, for goroutines that lock theirs, have
// policy.
func threadsMadeOn(policy int) error {
	const n = 8
	park := make(chan struct{})
	defer close(park)
	policies := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			runtime.LockOSThread() // a thread of its own
			got, err := schedPolicy(0)
			if err != nil {
				log.Print(err)
				got = -1
			}
			policies <- got
			wg.Done()
			<-park
		}()
	}
	wg.Wait()
	for range n {
		if got := <-policies; got != policy {
			return fmt.Errorf("a thread made while the vcpu runs has policy %d, want %d", got, policy)
		}
	}
	return nil
}
