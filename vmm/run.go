package vmm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// kickSignal interrupts a vcpu thread blocked in KVM_RUN. The Go runtime
// already handles SIGURG (its preemption signal) and ignores it where it is
// not asking for preemption, so sending it has no other effect.
const kickSignal = unix.SIGURG

// kickInterval is how often stopping vcpus are signalled again, covering a
// thread that was between its stop check and KVM_RUN when first kicked.
const kickInterval = 5 * time.Millisecond

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
	var stopping atomic.Bool
	pumpCtx, cancelPump := context.WithCancel(ctx)
	defer cancelPump()
	if m.cfg.ConsoleInput != nil {
		go func() {
			if err := m.console.Pump(pumpCtx, m.cfg.ConsoleInput); err != nil && pumpCtx.Err() == nil {
				m.log.Printf("console input: %v", err)
			}
		}()
	}

	results := make([]vcpuResult, len(m.vcpus))
	first := make(chan struct{}, len(m.vcpus))
	var wg sync.WaitGroup
	for i, v := range m.vcpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = m.runVcpu(v, &stopping)
			first <- struct{}{}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	select {
	case <-first:
	case <-ctx.Done():
	case <-done:
	}
	m.stopVcpus(&stopping, done)

	// The first system event decides; errors from any vcpu are reported.
	var errs *multierror.Error
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
	case ctx.Err() != nil:
		return OutcomeStopped, nil
	}
	return OutcomeError, errors.New("vcpus stopped without a guest event")
}

// stopVcpus makes every vcpu loop return: the flag stops loops between
// runs, immediate_exit stops one about to enter the guest, and a signal to
// its thread kicks one out of KVM_RUN, including a vcpu that is halted or
// powered off and so not running guest code.
func (m *Machine) stopVcpus(stopping *atomic.Bool, done <-chan struct{}) {
	stopping.Store(true)
	for _, v := range m.vcpus {
		v.setImmediateExit(true)
	}
	pid := unix.Getpid()
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	for {
		for _, v := range m.vcpus {
			if tid := v.tid.Load(); tid != 0 {
				_ = unix.Tgkill(pid, int(tid), kickSignal)
			}
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// runVcpu is one vcpu's KVM_RUN loop, on a goroutine locked to its thread
// so the kick signal reaches the thread that is in KVM_RUN.
func (m *Machine) runVcpu(v *Vcpu, stopping *atomic.Bool) vcpuResult {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	v.tid.Store(int32(unix.Gettid()))
	defer v.tid.Store(0)

	for !stopping.Load() {
		m.firstRun.CompareAndSwap(0, time.Now().UnixNano())
		_, err := ioctl(v.fd, kvmRun, 0)
		m.answerDump(v)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err == unix.ENOSYS {
				return vcpuResult{err: fmt.Errorf("vcpu %d: KVM could not decode a guest MMIO access (KVM_RUN: %v): the guest touched device memory with an instruction KVM cannot emulate", v.ID, err)}
			}
			return vcpuResult{err: fmt.Errorf("vcpu %d: KVM_RUN: %w", v.ID, err)}
		}
		switch reason := v.exitReason(); reason {
		case exitMMIO:
			m.mmioExits.Add(1)
			addr, data, isWrite := v.mmioExit()
			if !m.bus.Dispatch(addr, data, isWrite) {
				m.reportUnclaimed(v, addr, len(data), isWrite)
			}
		case exitSystemEvent:
			switch t := v.systemEventType(); t {
			case systemEventShutdown:
				return vcpuResult{outcome: OutcomePowerOff}
			case systemEventReset:
				return vcpuResult{outcome: OutcomeReset}
			case systemEventCrash:
				return vcpuResult{outcome: OutcomeCrash}
			default:
				return vcpuResult{err: fmt.Errorf("vcpu %d: unknown system event type %d", v.ID, t)}
			}
		case exitIntr:
			// A signal interrupted the guest; the loop checks for a stop.
		case exitFailEntry:
			return vcpuResult{err: fmt.Errorf("vcpu %d: KVM failed to enter the guest (reason %#x)", v.ID, v.rawUnion())}
		case exitInternalError:
			return vcpuResult{err: fmt.Errorf("vcpu %d: KVM internal error (suberror %d)", v.ID, uint32(v.rawUnion()))}
		default:
			return vcpuResult{err: fmt.Errorf("vcpu %d: unexpected KVM exit reason %d", v.ID, reason)}
		}
	}
	return vcpuResult{}
}

// reportUnclaimed logs MMIO accesses to addresses without a device: the
// first ten, then every thousandth, so a guest probing in a loop cannot
// flood the log.
func (m *Machine) reportUnclaimed(v *Vcpu, addr uint64, n int, isWrite bool) {
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
