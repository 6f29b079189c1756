package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gokvm/gokvm/vmm/memory"
)

// A restored machine maps its RAM file lazily: every page the guest
// touches on its way from the restore to the command's exec costs a host
// page fault and a stage-2 fault. The first restore of a saved machine
// records which pages those were (KEY.ws: memory.WorkingSet, read from
// /proc/self/pagemap when the init says the command started); the next
// restores map them in a few madvise calls, beside the rest of the
// restore, before the guest runs. Only
// the way to the exec is recorded, not what the command did, so one
// command's working set does not burden another's restore. The file goes
// with the saved machine: saving it again removes it (warmStart.create).

func (w warmFiles) workingSet() string { return filepath.Join(w.dir, w.key+".ws") }

// wsRecorder records a restored run's working set.
type wsRecorder struct {
	pagemap, out *os.File
}

func (r *wsRecorder) close() {
	if r != nil {
		r.pagemap.Close()
		r.out.Close()
	}
}

// loadWorkingSet reads the working set a run of the saved machine
// recorded, for the restore to prefault (machine.Saved.WorkingSet: beside
// the rest of the restore, before the vcpus run). A file cut short or
// stale is removed, to be recorded again.
func (s *Sandbox) loadWorkingSet() {
	path := s.warm.files.workingSet()
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	pages := int(s.warm.saved.File.Header.RAM.Size / uint64(os.Getpagesize()))
	ws, err := memory.ReadWorkingSet(bufio.NewReader(f), pages)
	if err != nil {
		os.Remove(path)
		return
	}
	s.warm.saved.WorkingSet = ws
}

// prepareWorkingSet, for a restore with no working set yet, opens what
// recording one takes (the system call filter opens no file once the
// machine runs). Failures only cost speed.
func (s *Sandbox) prepareWorkingSet() {
	if s.warm.saved.WorkingSet != nil || os.Getpagesize() != 4096 {
		return
	}
	// O_EXCL: another run restoring at once may be recording (one that
	// could not be read was removed by loadWorkingSet).
	path := s.warm.files.workingSet()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		out.Close()
		os.Remove(path)
		return
	}
	s.ws = &wsRecorder{pagemap: pm, out: out}
}

// logPrefault says, with --stats, how the restore's prefault went.
func (s *Sandbox) logPrefault() {
	ok, r, w, took, err := s.m.Prefaulted()
	switch {
	case !ok:
	case err != nil:
		s.log.Printf("--warm: working set: %v", err)
	default:
		s.log.Printf("--warm: prefaulted the working set (%d pages read, %d written) in %.1f ms, beside the restore", r, w, float64(took.Microseconds())/1000)
	}
}

// recordWorkingSet writes the working set once the command started; it
// runs beside the machine until then, or until the run ends. A file left
// empty or short is refused by the next run, which records again.
func (s *Sandbox) recordWorkingSet() (done <-chan struct{}) {
	d := make(chan struct{})
	if s.ws == nil {
		close(d)
		return d
	}
	r := s.ws
	s.ws = nil // the goroutine's now
	go func() {
		defer close(d)
		defer r.close()
		select {
		case <-s.exit.Started():
		case <-s.stop:
			return
		}
		ws, err := s.m.Memory().WorkingSet(r.pagemap)
		if err != nil {
			return
		}
		w := bufio.NewWriter(r.out)
		if _, err := ws.WriteTo(w); err == nil {
			w.Flush()
		}
	}()
	return d
}
