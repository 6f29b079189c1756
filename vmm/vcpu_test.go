package vmm

import (
	"runtime"
	"testing"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
	"golang.org/x/sys/unix"
)

// A vcpu whose loop has not started yet is about to run: a call posted
// then waits for the loop rather than failing at once (a snapshot or a
// dump asked for just after Run, before the scheduler reached every vcpu
// goroutine).
func TestOnThreadWaitsForAStartingVcpu(t *testing.T) {
	v := newVcpu(nil)
	v.starting.Store(true)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		runtime.LockOSThread() // kick signals this thread (SIGURG, which the runtime ignores)
		defer runtime.UnlockOSThread()
		time.Sleep(50 * time.Millisecond) // the goroutine is late
		v.tid.Store(int32(unix.Gettid()))
		v.starting.Store(false)
		defer v.tid.Store(0)
		for v.call.Load() == nil {
			select {
			case <-v.wake:
			case <-time.After(5 * time.Second):
				return
			}
		}
		v.answerCall()
	}()
	called := false
	if !v.onThread(func(*kvm.Vcpu) { called = true }, 5*time.Second) {
		t.Fatalf("onThread gave up on a vcpu that was starting")
	}
	<-ran
	if !called {
		t.Errorf("onThread returned true without running the call")
	}
}

// A vcpu with no thread and none coming fails at once.
func TestOnThreadFailsAtOnceWithoutThread(t *testing.T) {
	v := newVcpu(nil)
	start := time.Now()
	if v.onThread(func(*kvm.Vcpu) { t.Errorf("the call ran on no thread") }, 5*time.Second) {
		t.Fatalf("onThread succeeded with no thread")
	}
	if d := time.Since(start); d >= 2500*time.Millisecond {
		t.Errorf("onThread took %v to fail with no thread; it should not wait", d)
	}
	if v.call.Load() != nil {
		t.Errorf("the call is still posted after onThread gave up")
	}
}
