package results

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// FormatVersion names the JSON document's shape, so a consumer can tell a
// later incompatible one.
const FormatVersion = "gokvm-results/1"

// The VM's outcomes: how the VM ended, as the CLI saw it.
const (
	OutcomePoweroff = "poweroff" // the guest powered off (PSCI SYSTEM_OFF)
	OutcomeReset    = "reset"    // the guest reset (PSCI SYSTEM_RESET)
	OutcomePanic    = "panic"    // the guest kernel panicked
	OutcomeTimeout  = "timeout"  // the run's time limit came first
	OutcomeStopped  = "stopped"  // stopped from outside (signal, control socket)
	OutcomeError    = "error"    // gokvm itself failed
	OutcomeUnknown  = "unknown"  // nobody said: the default until SetOutcome
)

// Status is a test's result.
type Status string

// The test statuses. Skip, todo and xfail do not fail a run: a KTAP
// "# TODO" or kselftest "# XFAIL" test is expected not to pass.
const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusSkip  Status = "skip"
	StatusTodo  Status = "todo"
	StatusXfail Status = "xfail"
	StatusError Status = "error" // ERROR directive, or no result line at all
)

// Failed reports whether s counts as a failure of the run.
func (s Status) Failed() bool { return s == StatusFail || s == StatusError }

// Document is the result of one VM: what the console showed and what the
// caller adds. Its JSON field order is the struct's, so output is stable.
type Document struct {
	Format string `json:"format"`
	Name   string `json:"name"`
	// Outcome is one of the Outcome constants.
	Outcome string `json:"outcome"`
	// CommandStatus is the sandbox command's exit status, when there is one.
	CommandStatus *int `json:"command_status,omitempty"`
	// Error says why gokvm failed, for the outcome error (SetError).
	Error string `json:"error,omitempty"`
	// DurationS is the VM's run time in seconds (the parser's clock, from
	// NewParser to Finish).
	DurationS float64 `json:"duration_s"`
	// BootS is the time from NewParser to the kernel's "Run ... as init
	// process" line; BootKernelS that line's printk timestamp. Both absent
	// when the line never came.
	BootS       *float64 `json:"boot_s,omitempty"`
	BootKernelS *float64 `json:"boot_kernel_s,omitempty"`
	// Tests are the top-level tests of every KTAP/TAP document the console
	// showed, in order.
	Tests []*Test `json:"tests"`
	// Problems are the kernel problem reports kept: the first of each
	// signature and a few repeats (Limits.Repeats).
	Problems []*Problem `json:"problems"`
	// Signatures lists each signature once, in order of first sight.
	Signatures []*Signature `json:"signatures"`
	// Hangs is a hang diagnosis the caller adds (AddHang): one entry a vcpu.
	Hangs []*Hang `json:"hangs,omitempty"`
	// ConsoleTail is the console's last lines, for a run that ended badly.
	ConsoleTail []string `json:"console_tail,omitempty"`
	// Dropped counts what the limits kept out.
	Dropped Dropped `json:"dropped"`
}

// Test is one KTAP/TAP test point, with its subtests.
type Test struct {
	Name   string `json:"name"`
	Number int    `json:"number"`
	Status Status `json:"status"`
	// Directive is the KTAP directive as written (SKIP, TODO, XFAIL,
	// TIMEOUT, ERROR), Reason the text after it or the diagnostic data.
	Directive string `json:"directive,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// DurationS is the console time from the previous result at the same
	// level (or the level's start) to this one's result line.
	DurationS float64 `json:"duration_s"`
	// Plan is the number of subtests the subtest plan announced.
	Plan *int `json:"plan,omitempty"`
	// Diagnostics are the raw console lines before the result line: "#"
	// lines and anything else printed meanwhile (kernel messages).
	Diagnostics        []string `json:"diagnostics,omitempty"`
	DroppedDiagnostics int      `json:"dropped_diagnostics,omitempty"`
	Subtests           []*Test  `json:"subtests,omitempty"`
}

// Problem is one kernel problem report.
type Problem struct {
	// Kind is warning, bug, oops, kernel_bug, panic, kasan, kfence, ubsan,
	// lockdep, rcu_stall, soft_lockup, hard_lockup, hung_task or
	// workqueue_lockup.
	Kind      string `json:"kind"`
	Signature string `json:"signature"`
	// Title is the report's first line, without its printk prefix.
	Title string `json:"title"`
	// Fatal is set when a panic came with (or right after) the report.
	Fatal bool `json:"fatal,omitempty"`
	// File is the source file the report names (WARNING, kernel BUG, UBSAN).
	File string `json:"file,omitempty"`
	// During is the KTAP test that was running: suite names and the
	// running test's number, "suite > #3".
	During string `json:"during,omitempty"`
	// ConsoleS is when the report began, in seconds from NewParser;
	// KernelS its printk timestamp.
	ConsoleS float64  `json:"console_s"`
	KernelS  *float64 `json:"kernel_s,omitempty"`
	// Report is the report's raw console lines.
	Report       []string `json:"report"`
	DroppedLines int      `json:"dropped_lines,omitempty"`
}

// Signature is one signature with how often it came.
type Signature struct {
	Signature string `json:"signature"`
	Kind      string `json:"kind"`
	Count     int    `json:"count"`
	// FirstProblem indexes Problems: the first report of this signature.
	FirstProblem int `json:"first_problem"`
}

// Hang is the hang diagnosis of one vcpu: where it was (its PC) and the
// guest call frames found for it.
type Hang struct {
	VCPU   int      `json:"vcpu"`
	PC     string   `json:"pc,omitempty"`
	Frames []string `json:"frames,omitempty"`
}

// Dropped counts what the limits kept out of the document.
type Dropped struct {
	// LongLines lines were longer than Limits.LineBytes; LineBytes bytes
	// of them were not kept.
	LongLines int64 `json:"long_lines"`
	LineBytes int64 `json:"line_bytes"`
	// Diagnostics lines were not kept with their test.
	Diagnostics int64 `json:"diagnostics"`
	// Tests results were not kept (Limits.Tests), Levels subtest levels
	// nested deeper than Limits.Depth.
	Tests  int64 `json:"tests"`
	Levels int64 `json:"levels"`
	// Problems reports were counted in their signature but not kept;
	// Signatures reports of new signatures came past Limits.Signatures.
	Problems   int64 `json:"problems"`
	Signatures int64 `json:"signatures"`
	// ReportLines lines of kept reports were not kept.
	ReportLines int64 `json:"report_lines"`
	// Hangs entries or frames AddHang did not keep.
	Hangs int64 `json:"hangs"`
}

// Bounds of AddHang, so a writer's output stays bounded whatever the
// caller hands in.
const (
	maxHangs       = 512
	maxHangFrames  = 64
	maxHangStrByte = 512
)

// SetOutcome records how the VM ended (one of the Outcome constants; any
// other string is kept as given).
func (d *Document) SetOutcome(outcome string) { d.Outcome = outcome }

// SetCommandStatus records the sandbox command's exit status.
func (d *Document) SetCommandStatus(status int) { d.CommandStatus = &status }

// SetError records why gokvm failed (the outcome error): one line, at
// most 4096 bytes.
func (d *Document) SetError(msg string) {
	d.Error = clip(strings.Join(strings.Fields(msg), " "), 4096)
}

// SetDuration overrides the VM's run time Finish measured, for a caller
// with a better clock.
func (d *Document) SetDuration(dur time.Duration) { d.DurationS = seconds(dur) }

// AddHang adds one vcpu's hang diagnosis: its PC and guest frames, as the
// caller formats them. Entries past 512, frames past 64 and strings past
// 512 bytes are dropped (counted in Dropped.Hangs).
func (d *Document) AddHang(vcpu int, pc string, frames []string) {
	if len(d.Hangs) >= maxHangs {
		d.Dropped.Hangs++
		return
	}
	h := &Hang{VCPU: vcpu, PC: clip(pc, maxHangStrByte)}
	for i, f := range frames {
		if i >= maxHangFrames {
			d.Dropped.Hangs += int64(len(frames) - i)
			break
		}
		h.Frames = append(h.Frames, clip(f, maxHangStrByte))
	}
	d.Hangs = append(d.Hangs, h)
}

// OutcomePassed reports whether the VM ended well: the sandbox command's
// status is 0 when there is one, else the guest powered off.
func (d *Document) OutcomePassed() bool {
	if d.CommandStatus != nil {
		return *d.CommandStatus == 0
	}
	return d.Outcome == OutcomePoweroff
}

// Passed reports whether the whole run passed: the outcome, no failed or
// errored test, no kernel problem.
func (d *Document) Passed() bool {
	return d.OutcomePassed() && len(d.Signatures) == 0 && !d.Failed()
}

// Panicked reports whether the console showed a kernel panic: a panic of
// its own, or one that made a report fatal.
func (d *Document) Panicked() bool {
	for _, p := range d.Problems {
		if p.Kind == "panic" || p.Fatal {
			return true
		}
	}
	return false
}

// Failed reports whether a test failed or ended in error (skip, todo and
// xfail do not count).
func (d *Document) Failed() bool {
	var failed bool
	walk(d.Tests, func(t *Test, _ []*Test) {
		failed = failed || t.Status.Failed()
	})
	return failed
}

// outcomeText says the outcome in one line, for the writers.
func (d *Document) outcomeText() string {
	s := d.Outcome
	if s == "" {
		s = OutcomeUnknown
	}
	if d.CommandStatus != nil {
		s += fmt.Sprintf(", command status %d", *d.CommandStatus)
	}
	return s
}

// walk calls fn for every test, depth first, parents after their
// subtests, with the path of its ancestors.
func walk(tests []*Test, fn func(t *Test, parents []*Test)) {
	var rec func([]*Test, []*Test)
	rec = func(ts []*Test, parents []*Test) {
		for _, t := range ts {
			rec(t.Subtests, append(parents[:len(parents):len(parents)], t))
			fn(t, parents)
		}
	}
	rec(tests, nil)
}

// seconds is d in seconds, rounded to the microsecond so the JSON shows
// no float noise.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1e6) / 1e6
}

// clip cuts s to at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
