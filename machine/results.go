package machine

import (
	"io"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/gokvm/gokvm/results"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// Exit statuses of --bisect-status, as `git bisect run` reads them.
const (
	BisectGood = 0   // the guest did what it should
	BisectBad  = 1   // a kernel problem, a panic, reset or timeout, a failed test or command
	BisectSkip = 125 // the run says nothing about the kernel: this commit cannot be tested
	// BisectAbort: the run was stopped from outside (a signal, Ctrl-A x,
	// gokvm stop); git bisect run stops the bisection at a status above
	// 127.
	BisectAbort = 255
)

// RecorderOptions say what a Recorder keeps and where it writes.
type RecorderOptions struct {
	// Path is the results file (--results) Finish writes; none when
	// empty. Its temporary file is created by NewRecorder, beside it.
	Path string
	// Format is the file's format: json, junit (or xml) or tap; by
	// Path's extension (.json, .xml or .junit, .tap) when empty.
	Format string
	// Name names the run in the document ("gokvm" when empty).
	Name string
	// Bisect makes Finish return BisectStatus (--bisect-status).
	Bisect bool
	// Start is when the run started, for its duration; now when zero.
	Start time.Time
	// Clock reads the time; time.Now when nil (tests give a fake one).
	Clock func() time.Time
	// Limits bound what is kept of the console (results.DefaultLimits
	// for zero fields).
	Limits results.Limits
}

// Recorder follows one run for a CI system (--results, --bisect-status):
// the guest's console goes through a results.Parser (Options.Recorder:
// Build puts it beside Options.Stdout), a timeout adds each vcpu's
// backtrace, and Finish completes the document with how the run ended,
// writes it, and works out the exit status. A Recorder serves one run.
type Recorder struct {
	opts   RecorderOptions
	parser *results.Parser
	out    *results.Output

	mu             sync.Mutex
	hangs          []hang
	command        *int
	commandStarted bool
	doc            *results.Document
}

// hang is one vcpu's place when the run timed out.
type hang struct {
	vcpu   int
	pc     string
	frames []string
}

// NewRecorder starts a run's record and, with a Path, creates the
// results file's temporary file: before the run, whose seccomp filter
// opens no file. A format that is not known or cannot be told from the
// path, or a file that cannot be created, is a vmm.ConfigError naming it.
func NewRecorder(o RecorderOptions) (*Recorder, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Start.IsZero() {
		o.Start = o.Clock()
	}
	r := &Recorder{opts: o}
	if o.Path != "" {
		f, err := results.FormatFor(o.Path, o.Format)
		if err != nil {
			return nil, &vmm.ConfigError{Err: err}
		}
		if r.out, err = results.CreateOutput(o.Path, f); err != nil {
			return nil, &vmm.ConfigError{Err: err}
		}
	}
	r.parser = results.NewParser(results.Options{Name: o.Name, Clock: o.Clock, Limits: o.Limits})
	return r, nil
}

// Console is the writer the guest's console goes to; it never fails.
func (r *Recorder) Console() io.Writer { return r.parser }

// CommandOutput is a writer for a second stream of console lines read
// into the same document, kept apart from Console's line by line (a
// sandboxed command's output: the TAP a kselftest run prints); it never
// fails.
func (r *Recorder) CommandOutput() io.Writer { return r.parser.Source() }

// SetCommand records the sandbox command's exit status, and whether the
// command was started (a status of the sandbox's own, such as command
// not found, comes from a command that was not).
func (r *Recorder) SetCommand(status int, started bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.command, r.commandStarted = &status, started
}

// addHang records where a vcpu is; a later dump of the same vcpu
// (SIGUSR1, gokvm debug --dump, then the timeout) replaces the earlier
// one: the document says where each vcpu was last seen.
func (r *Recorder) addHang(h hang) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.hangs {
		if r.hangs[i].vcpu == h.vcpu {
			r.hangs[i] = h
			return
		}
	}
	r.hangs = append(r.hangs, h)
}

// RunEnd is how a run ended, as Finish records it.
type RunEnd struct {
	// Outcome is what Run returned; vmm.OutcomeError (the zero value)
	// when the machine was never built or run.
	Outcome vmm.Outcome
	// Err is the error that ended the run, if any (for OutcomeError the
	// document says it).
	Err error
}

// End completes the document: the console ends, the outcome (Outcome),
// the duration, the sandbox command's status, the error, the hangs. The
// first call decides; later ones return the same document.
func (r *Recorder) End(e RunEnd) *results.Document {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.doc != nil {
		return r.doc
	}
	d := r.parser.Finish()
	d.SetOutcome(Outcome(e.Outcome, d))
	d.SetDuration(r.opts.Clock().Sub(r.opts.Start))
	if r.command != nil {
		d.SetCommandStatus(*r.command)
	}
	if e.Err != nil && d.Outcome == results.OutcomeError {
		d.SetError(e.Err.Error())
	}
	for _, h := range r.hangs {
		d.AddHang(h.vcpu, h.pc, h.frames)
	}
	r.doc = d
	return d
}

// Finish ends the run's record (End) and writes its file, and returns
// the status to exit with: with Bisect, BisectStatus (BisectSkip
// instead of BisectGood when the file could not be written); else
// status, or failed in place of a status 0 when the file could not be
// written. A failure to write is reported to log. Call it once the run
// has ended, however it ended (a build that failed too); a nil Recorder
// returns status.
func (r *Recorder) Finish(e RunEnd, status, failed int, log *log.Logger) int {
	if r == nil {
		return status
	}
	d := r.End(e)
	var werr error
	if r.out != nil {
		if werr = r.out.Commit(d); werr != nil && log != nil {
			log.Print(werr)
		}
	}
	switch {
	case r.opts.Bisect:
		r.mu.Lock()
		started := r.commandStarted
		r.mu.Unlock()
		b := BisectStatus(d, started)
		if werr != nil && b == BisectGood {
			b = BisectSkip
		}
		return b
	case werr != nil && status == 0:
		return failed
	}
	return status
}

// Outcome is the results document's outcome for a run that ended with
// o: a guest that reset (panic=-1), timed out (a panic spins without
// it) or crashed (KVM's crash event) after the console showed a kernel
// panic panicked (results.OutcomePanic), as did every crash; a poweroff,
// a stop from outside and an error stay what they are.
func Outcome(o vmm.Outcome, d *results.Document) string {
	switch o {
	case vmm.OutcomePowerOff:
		return results.OutcomePoweroff
	case vmm.OutcomeStopped:
		return results.OutcomeStopped
	case vmm.OutcomeCrash:
		return results.OutcomePanic
	case vmm.OutcomeReset, vmm.OutcomeTimeout:
		if d.Panicked() {
			return results.OutcomePanic
		}
		if o == vmm.OutcomeReset {
			return results.OutcomeReset
		}
		return results.OutcomeTimeout
	}
	return results.OutcomeError
}

// BisectStatus is the exit status `git bisect run` wants for a run's
// document, decided in this order:
//
//  1. stopped from outside: BisectAbort (nobody knows; git stops);
//  2. a kernel problem in the console (any signature): BisectBad;
//  3. gokvm failed, before the guest ran (bad flags, no KVM, a missing
//     disk image) or while it ran: BisectSkip;
//  4. a panic, reset or timeout: BisectBad;
//  5. a sandbox command that failed: BisectSkip when it was never started
//     (not found, not runnable, the guest's init could not set up) or
//     exited 125 itself (a test script's "cannot test"), else BisectBad;
//  6. a failed or errored test in the console (KTAP/TAP): BisectBad;
//  7. otherwise (a poweroff, the command's status 0): BisectGood.
func BisectStatus(d *results.Document, commandStarted bool) int {
	switch {
	case d.Outcome == results.OutcomeStopped:
		return BisectAbort
	case len(d.Signatures) > 0:
		return BisectBad
	case d.Outcome == results.OutcomeError || d.Outcome == results.OutcomeUnknown:
		return BisectSkip
	case d.Outcome != results.OutcomePoweroff:
		return BisectBad
	case d.CommandStatus != nil && *d.CommandStatus != 0:
		if !commandStarted || *d.CommandStatus == BisectSkip {
			return BisectSkip
		}
		return BisectBad
	case d.Failed():
		return BisectBad
	}
	return BisectGood
}

// DiagnoseHang says where each vcpu is, as a timeout does: to w as
// DumpVcpus writes it (nothing when w is nil), and with a Recorder into
// its document's hangs, each vcpu's backtrace (an AArch64 guest's) or
// registers (AArch32). The sandbox calls it when its command times out.
func (m *Machine) DiagnoseHang(w io.Writer) {
	if w == nil && m.rec == nil {
		return
	}
	if w == nil {
		w = io.Discard
	}
	m.DumpVcpus(w)
}

// DumpVcpus writes where each vcpu is (vmm.Machine.DumpVcpus: SIGUSR1,
// gokvm debug --dump) and, with a Recorder, records it in the results
// document's hangs too.
func (m *Machine) DumpVcpus(w io.Writer) {
	var each func(*kvm.Vcpu)
	if m.rec != nil {
		each = m.recordHang
	}
	m.DumpVcpusWith(w, each)
}

// recordHang adds v's place to the recorder; it runs on v's thread.
func (m *Machine) recordHang(v *kvm.Vcpu) {
	t, ok := m.board.TraceVcpu(v)
	if !ok {
		m.rec.addHang(hang{vcpu: v.ID, pc: m.board.DescribeVcpu(v)})
		return
	}
	lines := strings.Split(t.Describe(), "\n")
	h := hang{vcpu: v.ID, pc: strings.TrimPrefix(lines[0], "pc=")}
	for _, l := range lines[1:] {
		h.frames = append(h.frames, strings.TrimSpace(l))
	}
	m.rec.addHang(h)
}

// consoleOut is where the guest's console goes: out, and the recorder's
// parser first (it never fails, so an out that fails still returns its
// error to the device, as without a recorder).
func consoleOut(out io.Writer, rec *Recorder) io.Writer {
	switch {
	case rec == nil:
		return out
	case out == nil:
		return rec.Console()
	}
	return io.MultiWriter(rec.Console(), out)
}

// recorderSystemCalls: a results file is written after the run into the
// temporary file created before it, and renamed over the path; the
// temporary file is removed if writing fails.
func (m *Machine) recorderSystemCalls() []seccomp.Call {
	if m.rec == nil || m.rec.out == nil {
		return nil
	}
	return []seccomp.Call{
		{Name: "renameat", Why: "--results renames the finished results file over the path once the run ended"},
		{Name: "unlinkat", Why: "--results removes its temporary file when writing the results fails; never a directory",
			Args: &seccomp.ArgRule{Index: 2, Values: []seccomp.Value{{V: 0, Name: "no flags", Why: "not AT_REMOVEDIR"}}}},
	}
}
