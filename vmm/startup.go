package vmm

import (
	"slices"
	"sync"
	"time"
)

// A StartupStep is one step of making and starting a machine, and when
// it ended, after Config.Start: what --stats shows of the time before the
// first KVM_RUN (a restore's budget is tens of milliseconds, spent in many
// small steps).
type StartupStep struct {
	Name  string
	After time.Duration
}

// startupLog is the steps marked so far; the machine's builder and its
// callers (a prefault, the system call filter) mark from their own
// goroutines.
type startupLog struct {
	mu    sync.Mutex
	steps []StartupStep
}

// MarkStartup records that the step name ended now. Steps after the first
// KVM_RUN are not recorded: the timeline is of the start-up only.
func (m *Machine) MarkStartup(name string) {
	if m.Started() {
		return
	}
	m.markStartupAt(name, time.Since(m.cfg.Start))
}

// markStartupAt records a step that ended after (since Config.Start),
// in its place by time: a step that ran beside others (a prefault) ends
// among them.
func (m *Machine) markStartupAt(name string, after time.Duration) {
	m.startup.mu.Lock()
	defer m.startup.mu.Unlock()
	i := len(m.startup.steps)
	for i > 0 && m.startup.steps[i-1].After > after {
		i--
	}
	m.startup.steps = slices.Insert(m.startup.steps, i, StartupStep{Name: name, After: after})
}

// Startup returns the steps marked so far, in order.
func (m *Machine) Startup() []StartupStep {
	m.startup.mu.Lock()
	defer m.startup.mu.Unlock()
	return append([]StartupStep(nil), m.startup.steps...)
}
