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

// denseMinPages is how many of a 2 MiB piece's 512 pages the working set
// must touch for the restore to copy the piece into a huge page of its own
// rather than map it from the RAM file page by page. Each page mapped
// costs the guest a stage-2 fault, an exit; copying costs 2 MiB of memory
// and a copy of it, and the piece is no longer shared with other
// restores. At 64 pages the exits saved outweigh the copy on the emulated
// test host many times over and about even it on hardware, where the
// guest's own later touches of the piece, not in the working set, are
// saved too.
const denseMinPages = 64

// loadWorkingSet reads the working set a run of the saved machine
// recorded and has the restore copy its dense pieces (denseMinPages).
// It returns nil when there is none, or it is unusable (then it is
// removed, to be recorded again).
func (s *Sandbox) loadWorkingSet() memory.WorkingSet {
	path := s.warm.files.workingSet()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	pages := int(s.warm.saved.File.Header.RAM.Size / uint64(os.Getpagesize()))
	ws, err := memory.ReadWorkingSet(bufio.NewReader(f), pages)
	if err != nil {
		// Cut short or stale: record it again.
		os.Remove(path)
		return nil
	}
	s.warm.saved.CopyPieces = ws.DensePieces(denseMinPages)
	return ws
}

// prepareWorkingSet prefaults the pages of ws (loadWorkingSet's) the
// restore did not copy, or when there is no working set opens what
// recording one takes (the system call filter opens no file once the
// machine runs). Failures only cost speed: they are logged with --stats,
// else silent.
func (s *Sandbox) prepareWorkingSet(ws memory.WorkingSet, stats bool) {
	path := s.warm.files.workingSet()
	mem := s.m.Memory()
	if ws != nil {
		t := time.Now()
		err := mem.Prefault(ws)
		if err == nil && stats {
			r, w := ws.Counts()
			s.log.Printf("--warm: prefaulted the working set (%d pages read, %d written; %d 2 MiB pieces of it copied from the RAM file) in %.1f ms",
				r, w, mem.CopiedPieces(), float64(time.Since(t).Microseconds())/1000)
		}
		if err != nil && stats {
			s.log.Printf("--warm: working set: %v", err)
		}
		return
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || os.Getpagesize() != 4096 {
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
