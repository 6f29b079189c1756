package vmm

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// VcpuDescriber is what a board may add to a vcpu state dump: the
// architecture's view of where the vcpu is (program counter, mode). It is
// called on the vcpu's own thread, between two KVM_RUNs.
type VcpuDescriber interface {
	DescribeVcpu(v *Vcpu) string
}

// dumpAnswerWait is how long a dump waits for one vcpu to leave KVM_RUN and
// describe itself before reporting it as not answering.
const dumpAnswerWait = 2 * time.Second

// mpStateNames are the KVM_MP_STATE_* values an ARM vcpu can be in.
var mpStateNames = map[uint32]string{0: "runnable", 5: "stopped", 10: "suspended"}

// MPState reads the vcpu's KVM_GET_MP_STATE: "stopped" for a secondary
// vcpu PSCI has not started (or has stopped), "runnable" otherwise.
func (v *Vcpu) MPState() (string, error) {
	var st uint32
	if err := v.Ioctl(kvmGetMPState, unsafe.Pointer(&st)); err != nil {
		return "", fmt.Errorf("KVM_GET_MP_STATE on vcpu %d: %w", v.ID, err)
	}
	if name, ok := mpStateNames[st]; ok {
		return name, nil
	}
	return fmt.Sprintf("mp_state %d", st), nil
}

// describe is one vcpu's line in a dump; it runs on the vcpu's thread.
func (m *Machine) describe(v *Vcpu) string {
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

// DumpVcpus writes one line per vcpu saying where it is, for a guest that
// seems stuck. Running vcpus are kicked out of KVM_RUN, describe
// themselves and go back in; the guest sees only a short pause.
func (m *Machine) DumpVcpus(w io.Writer) {
	m.dumpMu.Lock()
	defer m.dumpMu.Unlock()
	fmt.Fprintf(w, "vcpu states after %s; %d MMIO exits\n", time.Since(m.cfg.Start).Round(time.Millisecond), m.mmioExits.Load())
	for _, v := range m.vcpus {
		fmt.Fprintln(w, m.dumpOne(v))
	}
}

// dumpOne asks the vcpu's thread for its description, kicking it until it
// answers: a kick that lands just before KVM_RUN is lost, so it repeats.
func (m *Machine) dumpOne(v *Vcpu) string {
	answer := make(chan string, 1)
	v.dumpReq.Store(&answer)
	defer v.dumpReq.Store(nil)
	deadline := time.After(dumpAnswerWait)
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	for {
		tid := v.tid.Load()
		if tid == 0 {
			return fmt.Sprintf("vcpu %d: not running", v.ID)
		}
		_ = unix.Tgkill(unix.Getpid(), int(tid), kickSignal)
		select {
		case s := <-answer:
			return s
		case <-deadline:
			return fmt.Sprintf("vcpu %d: did not answer within %v (busy in a device handler?)", v.ID, dumpAnswerWait)
		case <-t.C:
		}
	}
}

// answerDump describes the vcpu if a dump asked; the vcpu loop calls it
// after every KVM_RUN.
func (m *Machine) answerDump(v *Vcpu) {
	if p := v.dumpReq.Load(); p != nil {
		if v.dumpReq.CompareAndSwap(p, nil) {
			*p <- m.describe(v)
		}
	}
}
