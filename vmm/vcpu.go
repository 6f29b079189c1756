package vmm

import (
	"sync/atomic"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
	"golang.org/x/sys/unix"
)

// kickSignal interrupts a vcpu thread blocked in KVM_RUN. The Go runtime
// already handles SIGURG (its preemption signal) and ignores it where it is
// not asking for preemption, so sending it has no other effect.
const kickSignal = unix.SIGURG

// kickInterval is how often a vcpu is signalled again while gokvm waits
// for it: a kick that lands between the thread's last check and KVM_RUN
// is lost.
const kickInterval = 5 * time.Millisecond

// vcpuCall is a function to run on a vcpu's own thread, between two
// KVM_RUNs.
type vcpuCall struct {
	fn   func(v *kvm.Vcpu)
	done chan struct{}
}

// vcpu is a KVM vcpu with what the run loop needs to reach its thread.
type vcpu struct {
	*kvm.Vcpu
	tid atomic.Int32 // OS thread running the loop, 0 when none
	// starting is set from Run's start until the loop's thread has set
	// tid (or failed before): a vcpu whose goroutine the scheduler has
	// not reached yet is about to run, not gone.
	starting atomic.Bool
	parked   atomic.Bool // waiting in a pause, not in KVM_RUN
	call     atomic.Pointer[vcpuCall]
	wake     chan struct{} // a call was posted (for a parked vcpu)
}

func newVcpu(v *kvm.Vcpu) *vcpu {
	return &vcpu{Vcpu: v, wake: make(chan struct{}, 1)}
}

// hasThread reports whether a thread runs v's loop, or is about to. It
// reads starting before tid: the loop sets tid before it clears starting,
// so a vcpu between the two is seen as having a thread.
func (v *vcpu) hasThread() bool {
	return v.starting.Load() || v.tid.Load() != 0
}

// kick makes the vcpu's thread leave KVM_RUN, if it is in it.
func (v *vcpu) kick() {
	if tid := v.tid.Load(); tid != 0 {
		_ = unix.Tgkill(unix.Getpid(), int(tid), kickSignal)
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// answerCall runs a posted call; the vcpu loop calls it after every
// KVM_RUN and while parked.
func (v *vcpu) answerCall() {
	if c := v.call.Load(); c != nil && v.call.CompareAndSwap(c, nil) {
		c.fn(v.Vcpu)
		close(c.done)
	}
}

// onThread runs fn on v's thread between two KVM_RUNs and reports whether
// it ran within wait. It returns false at once when no thread runs v or is
// about to (the machine is not running, or this vcpu's loop has ended).
// The caller holds m.control, so at most one call per vcpu is posted at a
// time.
func (v *vcpu) onThread(fn func(*kvm.Vcpu), wait time.Duration) bool {
	c := &vcpuCall{fn: fn, done: make(chan struct{})}
	v.call.Store(c)
	deadline := time.After(wait)
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	for {
		if !v.hasThread() && v.call.CompareAndSwap(c, nil) {
			return false
		}
		v.kick()
		select {
		case <-c.done:
			return true
		case <-deadline:
			if v.call.CompareAndSwap(c, nil) {
				return false
			}
			<-c.done // taken just now: it is running
			return true
		case <-t.C:
		}
	}
}
