package vmm

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// dumpAnswerWait is how long a dump waits for one vcpu to leave KVM_RUN and
// describe itself before reporting it as not answering.
const dumpAnswerWait = 2 * time.Second

// describe is one vcpu's line in a dump; it runs on the vcpu's thread.
func (m *Machine) describe(v *kvm.Vcpu) string {
	parts := []string{fmt.Sprintf("vcpu %d:", v.ID)}
	if st, err := v.MPState(); err != nil {
		parts = append(parts, err.Error())
	} else {
		parts = append(parts, st)
	}
	if d, ok := m.board.(VcpuDescriber); ok {
		parts = append(parts, d.DescribeVcpu(v))
	}
	return strings.Join(parts, " ")
}

// DumpVcpus writes one line per vcpu saying where it is (more when the
// board's description has more), for a guest that seems stuck. Running
// vcpus are kicked out of KVM_RUN, describe themselves and go back in;
// the guest sees only a short pause. Paused vcpus answer from where they
// wait.
func (m *Machine) DumpVcpus(w io.Writer) { m.DumpVcpusWith(w, nil) }

// DumpVcpusWith is DumpVcpus that also calls each (when not nil) on every
// vcpu that answers, on its thread, right after it described itself: a
// caller's record of the same moment (a hang report's backtraces). each
// is never called after DumpVcpusWith returns.
func (m *Machine) DumpVcpusWith(w io.Writer, each func(v *kvm.Vcpu)) {
	m.control.Lock()
	defer m.control.Unlock()
	paused := ""
	if m.pause.resume.Load() != nil {
		paused = " (paused)"
	}
	fmt.Fprintf(w, "vcpu states after %s%s; %d MMIO exits\n", time.Since(m.cfg.Start).Round(time.Millisecond), paused, m.mmioExits.Load())
	for _, v := range m.vcpus {
		var line string
		if !v.hasThread() {
			line = fmt.Sprintf("vcpu %d: not running", v.ID)
		} else if !v.onThread(func(kv *kvm.Vcpu) {
			line = m.describe(kv)
			if each != nil {
				each(kv)
			}
		}, dumpAnswerWait) {
			if !v.hasThread() {
				line = fmt.Sprintf("vcpu %d: not running", v.ID)
			} else {
				line = fmt.Sprintf("vcpu %d: did not answer within %v (busy in a device handler?)", v.ID, dumpAnswerWait)
			}
		}
		fmt.Fprintln(w, line)
	}
}

// OnVcpus runs fn on each vcpu's own thread, between two KVM_RUNs (or
// where a paused vcpu waits), one vcpu after the other. It fails for a
// vcpu whose thread does not answer within wait, or that is not running.
func (m *Machine) OnVcpus(fn func(v *kvm.Vcpu), wait time.Duration) error {
	m.control.Lock()
	defer m.control.Unlock()
	for _, v := range m.vcpus {
		if !v.onThread(fn, wait) {
			return fmt.Errorf("vcpu %d: its thread did not answer within %v (not running, or busy in a device handler)", v.ID, wait)
		}
	}
	return nil
}
