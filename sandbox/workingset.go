package sandbox

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/vmm/memory"
)

// A restored machine maps its RAM file lazily: every page the guest
// touches on its way from the restore to the command's exec costs a host
// page fault and a stage-2 fault. The first restore of a saved machine
// records which pages those were (KEY.ws: memory.WorkingSet, read from
// /proc/self/pagemap when the init says the command started); the next
// restores map them in a few madvise calls before the guest runs. Only
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

// prepareWorkingSet prefaults the pages the saved machine's working set
// names, or when it has none yet opens what recording one takes (the
// system call filter opens no file once the machine runs). Failures only
// cost speed: they are logged with --stats, else silent.
func (s *Sandbox) prepareWorkingSet(stats bool) {
	path := s.warm.files.workingSet()
	mem := s.m.Memory()
	pages := int(mem.Size() / uint64(os.Getpagesize()))
	f, err := os.Open(path)
	if err == nil {
		ws, err := memory.ReadWorkingSet(bufio.NewReader(f), pages)
		f.Close()
		if err != nil {
			// Cut short or stale: record it again.
			os.Remove(path)
		} else {
			t := time.Now()
			err = mem.Prefault(ws)
			s.m.MarkStartup("working set prefaulted")
			if err == nil && stats {
				r, w := ws.Counts()
				s.log.Printf("--warm: prefaulted the working set (%d pages read, %d written) in %.1f ms", r, w, float64(time.Since(t).Microseconds())/1000)
			}
		}
		if err != nil && stats {
			s.log.Printf("--warm: working set: %v", err)
		}
		return
	}
	if !errors.Is(err, os.ErrNotExist) || os.Getpagesize() != 4096 {
		return
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return
	}
	// O_EXCL: one of several runs restoring at once records.
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		pm.Close()
		return
	}
	s.ws = &wsRecorder{pagemap: pm, out: out}
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
