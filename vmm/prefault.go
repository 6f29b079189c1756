package vmm

import (
	"time"

	"github.com/gokvm/gokvm/vmm/memory"
)

// A restore's working set (Restore.WorkingSet) is prefaulted beside the
// rest of the restore: from when RAM is mapped, while the vcpus, GIC and
// devices are made and their state restored, while the caller finishes
// its own start-up and the system call filter goes on. Run waits for it
// before the first KVM_RUN, so the guest finds its pages mapped as when
// the prefault came first; only the time is shared.
type prefaulter struct {
	done chan struct{} // closed when the prefault ended
	// Set before done is closed:
	ws   memory.WorkingSet
	took time.Duration
	err  error
}

// startPrefault starts prefaulting ws into RAM.
func (m *Machine) startPrefault(ws memory.WorkingSet) {
	p := &prefaulter{done: make(chan struct{}), ws: ws}
	m.prefault = p
	mem := m.mem
	go func() {
		t := time.Now()
		p.err = mem.Prefault(ws)
		p.took = time.Since(t)
		m.markStartupAt("working set prefaulted", time.Since(m.cfg.Start))
		close(p.done)
	}()
}

// awaitPrefault waits for a prefault started, if any: before the vcpus
// run, and before RAM is unmapped.
func (m *Machine) awaitPrefault() {
	if m.prefault != nil {
		<-m.prefault.done
	}
}

// Prefaulted reports a restore's working-set prefault: whether there was
// one, how many pages it named read and written, how long it took and
// how it failed (memory.ErrNoPopulate: the host cannot). It waits for the
// prefault to end.
func (m *Machine) Prefaulted() (ok bool, read, written int, took time.Duration, err error) {
	if m.prefault == nil {
		return false, 0, 0, 0, nil
	}
	m.awaitPrefault()
	read, written = m.prefault.ws.Counts()
	return true, read, written, m.prefault.took, m.prefault.err
}
