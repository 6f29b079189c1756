package machine

import (
	"context"
	"log"
	"strings"
	"time"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// Run runs the guest until it powers off or resets, ctx ends, or the
// spec's timeout passes: then it first logs where each vcpu was (what a
// timed-out boot test needs to know first; DiagnoseHang, which also
// gives a Recorder the vcpus' backtraces) and the outcome is
// vmm.OutcomeTimeout.
func (m *Machine) Run(ctx context.Context) (vmm.Outcome, error) {
	m.MarkStartup("run called")
	// Before the filter, which lets a thread change only its own policy.
	// A filter an earlier machine of this process installed is in place
	// already: then only a first call made before it stands (the vcpus
	// follow it, made or not); another would be stopped by the filter.
	if m.batchHelpers && !seccomp.Active() {
		if err := vmm.BatchHelperThreads(); err != nil {
			m.log.Printf("not every helper thread is on SCHED_BATCH; those on SCHED_OTHER can preempt the vcpus: %v", err)
		}
	}
	if err := m.installSeccomp(); err != nil {
		return vmm.OutcomeError, err
	}
	if m.timeout <= 0 {
		return m.Machine.Run(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := time.AfterFunc(m.timeout, func() {
		m.log.Printf("timeout: the guest ran for %v", m.timeout)
		m.DiagnoseHang(LogWriter{m.log})
		cancel(context.DeadlineExceeded)
	})
	defer t.Stop()
	return m.Machine.Run(ctx)
}

// LogWriter sends each line written to it through a logger, so multi-line
// reports (a vcpu dump) carry the logger's prefix on every line.
type LogWriter struct{ L *log.Logger }

func (w LogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.L.Print(line)
	}
	return len(p), nil
}
