package vmm

import (
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
	m.startup.mu.Lock()
	defer m.startup.mu.Unlock()
	m.startup.steps = append(m.startup.steps, StartupStep{Name: name, After: time.Since(m.cfg.Start)})
}

// Startup returns the steps marked so far, in order.
func (m *Machine) Startup() []StartupStep {
	m.startup.mu.Lock()
	defer m.startup.mu.Unlock()
	return append([]StartupStep(nil), m.startup.steps...)
}
