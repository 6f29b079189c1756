package vmm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// ErrRanBefore says Run was called on a machine that already ran.
var ErrRanBefore = errors.New("the machine has already run")

// vcpuResult is how one vcpu's loop ended.
type vcpuResult struct {
	outcome Outcome // set for a system event
	err     error
}

// Run starts every vcpu and returns when the guest powers off or resets,
// a vcpu fails, or ctx ends. A ctx that ends by its deadline, or is
// cancelled with context.DeadlineExceeded as its cause (a caller that does
// something first, such as dumping the vcpus), gives OutcomeTimeout; any
// other end gives OutcomeStopped. A machine runs once.
func (m *Machine) Run(ctx context.Context) (Outcome, error) {
	// Under runMu, so that Close either sees this run and waits for it,
	// or has already stopped the machine and this run does nothing.
	m.runMu.Lock()
	switch {
	case m.ran:
		m.runMu.Unlock()
		return OutcomeError, ErrRanBefore
	case m.closing:
		m.runMu.Unlock()
		return OutcomeStopped, nil
	}
	m.ran = true
	m.running.Add(1)
	m.runMu.Unlock()
	defer m.running.Done()
	// The guest finds its working set mapped (a restore's prefault).
	m.awaitPrefault()
	devCtx, stopDevices := context.WithCancel(ctx)
	defer stopDevices()
	for _, d := range m.devices {
		if s, ok := d.(Starter); ok {
			s.Start(devCtx)
		}
	}

	releaseProcs := addVcpuProcs(len(m.vcpus))
	defer releaseProcs()
	results := make([]vcpuResult, len(m.vcpus))
	first := make(chan struct{}, len(m.vcpus))
	var wg sync.WaitGroup
	for i, v := range m.vcpus {
		wg.Add(1)
		v.starting.Store(true)
		go func() {
			defer wg.Done()
			results[i] = m.runVcpu(v)
			first <- struct{}{}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	select {
	case <-first:
	case <-ctx.Done():
	case <-done:
	case <-m.stopped: // Close
	}
	m.stopVcpus(done)
	m.runEnd.Store(time.Now().UnixNano())
	releaseProcs()
	// A machine stopped while paused leaves its devices paused: let
	// them go, so that Close finds them as it expects.
	m.resumeDevices()

	// The first system event decides; errors from any vcpu, and faults of
	// any device, are reported.
	m.faultMu.Lock()
	var errs *multierror.Error
	if m.faults != nil {
		errs = multierror.Append(errs, m.faults.Errors...)
	}
	m.faultMu.Unlock()
	outcome := OutcomeError
	for _, r := range results {
		if r.err != nil {
			errs = multierror.Append(errs, r.err)
		}
		if outcome == OutcomeError && r.outcome != OutcomeError {
			outcome = r.outcome
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		return OutcomeError, err
	}
	if outcome != OutcomeError {
		return outcome, nil
	}
	switch {
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		return OutcomeTimeout, nil
	case ctx.Err() != nil, m.closed():
		return OutcomeStopped, nil
	}
	return OutcomeError, errors.New("vcpus stopped without a guest event")
}

// stopVcpus makes every vcpu loop return: the stopped channel ends loops
// between runs and wakes parked ones, immediate_exit stops one about to
// enter the guest, and a signal to its thread kicks one out of KVM_RUN,
// including a vcpu that is halted or powered off and so not running guest
// code.
func (m *Machine) stopVcpus(done <-chan struct{}) {
	m.stopOnce.Do(func() { close(m.stopped) })
	for _, v := range m.vcpus {
		v.SetImmediateExit(true)
	}
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	for {
		for _, v := range m.vcpus {
			v.kick()
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

func (m *Machine) stopping() bool {
	select {
	case <-m.stopped:
		return true
	default:
		return false
	}
}

// keepPWithin is how soon a KVM_RUN that a signal ended must have
// returned for the next to keep the vcpu thread's P: a kick of a busy
// vcpu (a pause, a call) rather than the runtime's preemption of an idle
// one, which comes after 10 ms.
const keepPWithin = 2 * time.Millisecond

// runVcpu is one vcpu's KVM_RUN loop, on a goroutine locked to its thread
// so the kick signal reaches the thread that is in KVM_RUN.
func (m *Machine) runVcpu(v *vcpu) vcpuResult {
	// The thread stays locked when the loop ends, so the runtime retires
	// it rather than reuse a thread renamed and pinned for this vcpu.
	runtime.LockOSThread()
	defer v.starting.Store(false) // also when the loop fails before tid is set
	// Pinned and scheduled before named: a thread that shows as
	// gokvm-vcpuN already has its final affinity and policy, for whoever
	// watches /proc.
	if err := pinThread(m.cfg.VcpuAffinity); err != nil {
		return vcpuResult{err: fmt.Errorf("vcpu %d: %w", v.ID, err)}
	}
	if err := vcpuThreadPolicy(); err != nil {
		// Slower, not wrong: the vcpu runs on with the helpers' policy.
		m.log.Printf("vcpu %d: %v", v.ID, err)
	}
	nameThread(fmt.Sprintf("gokvm-vcpu%d", v.ID))
	v.tid.Store(int32(unix.Gettid()))
	v.starting.Store(false) // after tid: see hasThread
	defer v.tid.Store(0)

	// Whether the next KVM_RUN keeps the thread's P (vmm/procs.go). The
	// runtime preempts a goroutine that has held its P for 10 ms, with a
	// signal that ends KVM_RUN: a vcpu idle in WFI would be taken out of
	// the guest 100 times a second. So after a long stay in the guest
	// that a signal ended, the next KVM_RUN is a plain system call, which
	// the runtime leaves alone; the first exit the guest makes itself
	// (an MMIO access: the guest is busy again) brings the P back.
	keepP := true
	for !m.stopping() {
		v.answerCall()
		if m.park(v) {
			continue
		}
		entered := time.Now()
		m.firstRun.CompareAndSwap(0, entered.UnixNano())
		var err error
		if keepP {
			err = v.RunKeepingP() // its P is one addVcpuProcs added
		} else {
			err = v.Run()
		}
		keepP = err != unix.EINTR || time.Since(entered) < keepPWithin
		v.answerCall()
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err == unix.ENOSYS {
				return vcpuResult{err: fmt.Errorf("vcpu %d: KVM could not decode a guest MMIO access (KVM_RUN: %w): the guest touched device memory with an instruction KVM cannot emulate", v.ID, err)}
			}
			return vcpuResult{err: fmt.Errorf("vcpu %d: KVM_RUN: %w", v.ID, err)}
		}
		if r, done := m.handleExit(v); done {
			return r
		}
	}
	return vcpuResult{}
}

// handleExit serves one exit; done says the vcpu's loop ends with r.
func (m *Machine) handleExit(v *vcpu) (r vcpuResult, done bool) {
	switch reason := v.ExitReason(); reason {
	case kvm.ExitMMIO:
		m.mmioExits.Add(1)
		addr, data, isWrite := v.MMIOExit()
		if !m.bus.Dispatch(addr, data, isWrite) {
			m.reportUnclaimed(v, addr, len(data), isWrite)
		}
		return vcpuResult{}, false
	case kvm.ExitSystemEvent:
		switch t := v.SystemEventType(); t {
		case kvm.SystemEventShutdown:
			return vcpuResult{outcome: OutcomePowerOff}, true
		case kvm.SystemEventReset:
			return vcpuResult{outcome: OutcomeReset}, true
		case kvm.SystemEventCrash:
			return vcpuResult{outcome: OutcomeCrash}, true
		default:
			return vcpuResult{err: fmt.Errorf("vcpu %d: unknown system event type %d", v.ID, t)}, true
		}
	case kvm.ExitIntr:
		// A signal interrupted the guest; the loop checks for a stop.
		return vcpuResult{}, false
	case kvm.ExitFailEntry:
		return vcpuResult{err: fmt.Errorf("vcpu %d: KVM failed to enter the guest (reason %#x)", v.ID, v.RawUnion())}, true
	case kvm.ExitInternalError:
		return vcpuResult{err: fmt.Errorf("vcpu %d: KVM internal error (suberror %d)", v.ID, uint32(v.RawUnion()))}, true
	default:
		return vcpuResult{err: fmt.Errorf("vcpu %d: unexpected KVM exit reason %d", v.ID, reason)}, true
	}
}

// reportUnclaimed logs MMIO accesses to addresses without a device: the
// first ten, then every thousandth, so a guest probing in a loop cannot
// flood the log.
func (m *Machine) reportUnclaimed(v *vcpu, addr uint64, n int, isWrite bool) {
	c := m.unclaimed.Add(1)
	if c > 10 && c%1000 != 0 {
		return
	}
	dir := "read"
	if isWrite {
		dir = "write"
	}
	m.log.Printf("vcpu %d: %d-byte MMIO %s at %#x hits no device (%d such accesses so far)", v.ID, n, dir, addr, c)
}

// closed reports whether Close was called.
func (m *Machine) closed() bool {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	return m.closing
}
