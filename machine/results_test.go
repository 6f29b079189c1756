package machine

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/results"
	"github.com/gokvm/gokvm/vmm"
)

// fakeClock ticks 10 ms a reading, so durations do not depend on the
// machine running the test.
func fakeClock() func() time.Time {
	t := time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(10 * time.Millisecond)
		return t
	}
}

func readLog(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "results", "testdata", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feed writes b to w in chunks of n bytes, as a UART hands the console
// over.
func feed(w interface{ Write([]byte) (int, error) }, b []byte, n int) {
	for len(b) > 0 {
		k := min(n, len(b))
		w.Write(b[:k])
		b = b[k:]
	}
}

// TestOutcome: how the VM ended, with what the console showed, is the
// document's outcome; a reset, crash or timeout after a kernel panic is
// a panic.
func TestOutcome(t *testing.T) {
	panicked := parsed(t, "panic-sysrq")
	quiet := parsed(t, "kunit")
	warned := parsed(t, "warning")
	for _, tc := range []struct {
		o    vmm.Outcome
		d    *results.Document
		want string
	}{
		{vmm.OutcomePowerOff, quiet, results.OutcomePoweroff},
		{vmm.OutcomePowerOff, warned, results.OutcomePoweroff},
		{vmm.OutcomeReset, quiet, results.OutcomeReset},
		{vmm.OutcomeReset, warned, results.OutcomeReset},
		{vmm.OutcomeReset, panicked, results.OutcomePanic},
		{vmm.OutcomeTimeout, quiet, results.OutcomeTimeout},
		{vmm.OutcomeTimeout, panicked, results.OutcomePanic},
		{vmm.OutcomeCrash, quiet, results.OutcomePanic},
		{vmm.OutcomeCrash, panicked, results.OutcomePanic},
		{vmm.OutcomeStopped, panicked, results.OutcomeStopped},
		{vmm.OutcomeError, panicked, results.OutcomeError},
	} {
		if got := Outcome(tc.o, tc.d); got != tc.want {
			t.Errorf("%v, panicked %v: %q, want %q", tc.o, tc.d.Panicked(), got, tc.want)
		}
	}
	// An oops that panic_on_oops made fatal is a panic too.
	if got := Outcome(vmm.OutcomeReset, parsed(t, "kunit-panic")); got != results.OutcomePanic {
		t.Errorf("a fatal oops, then a reset: %q", got)
	}
}

// parsed is a test log's document, as the console gave it.
func parsed(t *testing.T, name string) *results.Document {
	p := results.NewParser(results.Options{Clock: fakeClock()})
	p.Write(readLog(t, name))
	return p.Finish()
}

// TestBisectStatus: every way a run ends, and the status git bisect run
// gets for it.
func TestBisectStatus(t *testing.T) {
	status := func(n int) *int { return &n }
	failedTest := []*results.Test{{Name: "t", Number: 1, Status: results.StatusFail}}
	passedTests := []*results.Test{{Name: "a", Number: 1, Status: results.StatusPass}, {Name: "b", Number: 2, Status: results.StatusSkip},
		{Name: "c", Number: 3, Status: results.StatusXfail}, {Name: "d", Number: 4, Status: results.StatusTodo}}
	nested := []*results.Test{{Name: "suite", Number: 1, Status: results.StatusPass,
		Subtests: []*results.Test{{Name: "x", Number: 1, Status: results.StatusError}}}}
	problem := []*results.Signature{{Signature: "WARNING in foo", Kind: "warning", Count: 1}}
	for _, tc := range []struct {
		name    string
		d       results.Document
		started bool
		want    int
	}{
		{"poweroff", results.Document{Outcome: results.OutcomePoweroff}, false, BisectGood},
		{"poweroff, passed, skipped, xfail and todo tests", results.Document{Outcome: results.OutcomePoweroff, Tests: passedTests}, false, BisectGood},
		{"poweroff after a WARNING", results.Document{Outcome: results.OutcomePoweroff, Signatures: problem}, false, BisectBad},
		{"poweroff, a failed test", results.Document{Outcome: results.OutcomePoweroff, Tests: failedTest}, false, BisectBad},
		{"poweroff, a subtest in error", results.Document{Outcome: results.OutcomePoweroff, Tests: nested}, false, BisectBad},
		{"panic", results.Document{Outcome: results.OutcomePanic}, false, BisectBad},
		{"reset", results.Document{Outcome: results.OutcomeReset}, false, BisectBad},
		{"timeout", results.Document{Outcome: results.OutcomeTimeout}, false, BisectBad},
		{"gokvm failed", results.Document{Outcome: results.OutcomeError}, false, BisectSkip},
		{"never ended", results.Document{Outcome: results.OutcomeUnknown}, false, BisectSkip},
		{"gokvm failed after a WARNING", results.Document{Outcome: results.OutcomeError, Signatures: problem}, false, BisectBad},
		{"stopped", results.Document{Outcome: results.OutcomeStopped, Signatures: problem}, false, BisectAbort},
		{"command 0", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(0)}, true, BisectGood},
		{"command 0, a failed test in its TAP", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(0), Tests: failedTest}, true, BisectBad},
		{"command 1", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(1)}, true, BisectBad},
		{"command killed in the guest", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(137)}, true, BisectBad},
		{"command says it cannot test", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(125)}, true, BisectSkip},
		{"command not found", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(127)}, false, BisectSkip},
		{"the init could not set up", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(125)}, false, BisectSkip},
		{"command 0, then a WARNING", results.Document{Outcome: results.OutcomePoweroff, CommandStatus: status(0), Signatures: problem}, true, BisectBad},
		{"the kernel went down under the command", results.Document{Outcome: results.OutcomePanic}, true, BisectBad},
	} {
		if got := BisectStatus(&tc.d, tc.started); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRecorderConsole: a console fed through the recorder in small
// chunks gives the document the results package gives for the whole log,
// completed with how the run ended, written to the file, and the status.
func TestRecorderConsole(t *testing.T) {
	for _, tc := range []struct {
		log     string
		end     vmm.Outcome
		outcome string
		sigs    []string
		bisect  int
		status  int // run's status, as the CLI passes it
	}{
		{"kunit", vmm.OutcomePowerOff, results.OutcomePoweroff, nil, BisectBad, 0}, // two failed KUnit cases
		{"panic-sysrq", vmm.OutcomeReset, results.OutcomePanic, []string{"kernel panic: sysrq triggered crash"}, BisectBad, ExitReset},
		{"warning", vmm.OutcomePowerOff, results.OutcomePoweroff, []string{"WARNING in gokvm_test_warn"}, BisectBad, 0},
		{"rcu-stall", vmm.OutcomeTimeout, results.OutcomeTimeout, []string{"INFO: rcu detected stall in gokvm_stall_write"}, BisectBad, ExitTimeout},
	} {
		t.Run(tc.log, func(t *testing.T) {
			for _, bisect := range []bool{false, true} {
				path := filepath.Join(t.TempDir(), "out.json")
				r, err := NewRecorder(RecorderOptions{Path: path, Name: tc.log, Bisect: bisect, Clock: fakeClock()})
				if err != nil {
					t.Fatal(err)
				}
				feed(r.Console(), readLog(t, tc.log), 7)
				if tc.end == vmm.OutcomeTimeout {
					// An earlier dump (SIGUSR1, debug --dump) of the
					// same vcpu: the timeout's replaces it.
					r.addHang(hang{vcpu: 0, pc: "ffff800008000000 earlier+0x0/0x4"})
					r.addHang(hang{vcpu: 0, pc: "ffff800008a1b2c4 gokvm_spin+0x10/0x20 [EL1h, irqs on]", frames: []string{"#1 ffff800008a1b300 gokvm_stall_write+0x58/0x90"}})
				}
				status := r.Finish(RunEnd{Outcome: tc.end}, tc.status, ExitFailure, nil)
				want := tc.status
				if bisect {
					want = tc.bisect
				}
				if status != want {
					t.Errorf("bisect %v: status %d, want %d", bisect, status, want)
				}
				var d results.Document
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				whole := parsed(t, tc.log)
				var sigs []string
				for _, s := range d.Signatures {
					sigs = append(sigs, s.Signature)
				}
				if d.Outcome != tc.outcome || d.Name != tc.log || !reflect.DeepEqual(sigs, tc.sigs) {
					t.Errorf("outcome %q, name %q, signatures %q; want %q, %q, %q", d.Outcome, d.Name, sigs, tc.outcome, tc.log, tc.sigs)
				}
				if got, want := testNames(d.Tests), testNames(whole.Tests); !reflect.DeepEqual(got, want) {
					t.Errorf("tests %q, want %q", got, want)
				}
				if (tc.end == vmm.OutcomeTimeout) != (len(d.Hangs) == 1) || len(d.Hangs) == 1 && d.Hangs[0].Frames[0] != "#1 ffff800008a1b300 gokvm_stall_write+0x58/0x90" {
					t.Errorf("hangs %+v", d.Hangs)
				}
				if d.DurationS <= 0 || d.CommandStatus != nil || d.Error != "" {
					t.Errorf("duration %v, command status %v, error %q", d.DurationS, d.CommandStatus, d.Error)
				}
			}
		})
	}
}

// testNames are the tests' names and statuses, subtests after their
// parent.
func testNames(tests []*results.Test) []string {
	var out []string
	for _, t := range tests {
		out = append(out, t.Name+": "+string(t.Status))
		out = append(out, testNames(t.Subtests)...)
	}
	return out
}

// TestRecorderCommandOutput: a sandboxed command's TAP (its stdout) and
// the kernel's console come in at once; the document has both, line by
// line, with the command's status.
func TestRecorderCommandOutput(t *testing.T) {
	var kernel, command bytes.Buffer
	for _, l := range strings.SplitAfter(string(readLog(t, "kselftest")), "\n") {
		if strings.HasPrefix(l, "[") {
			kernel.WriteString(l)
		} else {
			command.WriteString(l)
		}
	}
	path := filepath.Join(t.TempDir(), "out.xml")
	r, err := NewRecorder(RecorderOptions{Path: path, Bisect: true, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := r.CommandOutput()
	// Alternating chunks cut mid-line: a line of one never takes the
	// other's bytes.
	k, c := kernel.Bytes(), command.Bytes()
	for len(k) > 0 || len(c) > 0 {
		n := min(5, len(k))
		r.Console().Write(k[:n])
		k = k[n:]
		n = min(3, len(c))
		cmd.Write(c[:n])
		c = c[n:]
	}
	r.SetCommand(1, true)
	if status := r.Finish(RunEnd{Outcome: vmm.OutcomePowerOff}, 1, 125, nil); status != BisectBad {
		t.Errorf("status %d, want %d", status, BisectBad)
	}
	d := r.End(RunEnd{})
	if got, want := testNames(d.Tests), testNames(parsed(t, "kselftest").Tests); !reflect.DeepEqual(got, want) || len(got) != 5 {
		t.Errorf("tests %q, want %q", got, want)
	}
	if d.CommandStatus == nil || *d.CommandStatus != 1 || d.Outcome != results.OutcomePoweroff || d.BootS == nil {
		t.Errorf("command status %v, outcome %q, boot %v", d.CommandStatus, d.Outcome, d.BootS)
	}
	xml, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<testcase name="selftests: net: reuseport_bpf"`, `outcome: poweroff, command status 1`} {
		if !strings.Contains(string(xml), want) {
			t.Errorf("the JUnit file lacks %q", want)
		}
	}
}

// TestRecorderErrors: a format the recorder cannot tell, or a file it
// cannot create, is a usage error naming it; a run that failed says why
// in the document; a file that cannot be written in the end is reported
// and fails a run that would have passed (cannot test, with bisect).
func TestRecorderErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		o    RecorderOptions
		want string
	}{
		{RecorderOptions{Path: filepath.Join(dir, "out.txt")}, `"` + filepath.Join(dir, "out.txt") + `"`},
		{RecorderOptions{Path: filepath.Join(dir, "out.json"), Format: "yaml"}, `"yaml"`},
		{RecorderOptions{Path: filepath.Join(dir, "none", "out.json")}, filepath.Join(dir, "none", "out.json")},
	} {
		_, err := NewRecorder(tc.o)
		if !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want a usage error naming %s", tc.o, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}

	path := filepath.Join(dir, "out.tap")
	r, err := NewRecorder(RecorderOptions{Path: path, Clock: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Finish(RunEnd{Err: errors.New("/dev/kvm:\nno such file")}, ExitFailure, ExitFailure, nil); s != ExitFailure {
		t.Errorf("status %d", s)
	}
	tap, _ := os.ReadFile(path)
	if !strings.Contains(string(tap), "# error: /dev/kvm: no such file\n") || !strings.Contains(string(tap), "not ok 1 - gokvm.outcome # error\n") {
		t.Errorf("TAP:\n%s", tap)
	}

	for _, bisect := range []bool{false, true} {
		sub := filepath.Join(dir, "gone")
		os.Mkdir(sub, 0o755)
		r, err := NewRecorder(RecorderOptions{Path: filepath.Join(sub, "out.json"), Bisect: bisect})
		if err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(sub)
		var logged bytes.Buffer
		status := r.Finish(RunEnd{Outcome: vmm.OutcomePowerOff}, 0, ExitFailure, log.New(&logged, "gokvm: ", 0))
		want := ExitFailure
		if bisect {
			want = BisectSkip
		}
		if status != want || !strings.Contains(logged.String(), "gokvm: results: writing "+filepath.Join(sub, "out.json")) {
			t.Errorf("bisect %v: status %d, logged %q; want %d and the file named", bisect, status, logged.String(), want)
		}
		// A failing status stays.
		if s := r.Finish(RunEnd{Outcome: vmm.OutcomeReset}, ExitReset, ExitFailure, nil); !bisect && s != ExitReset {
			t.Errorf("status %d, want %d", s, ExitReset)
		}
	}
}

// TestBuildSymbols: --symbols is loaded by Build (a file that is not one
// is a usage error naming it, before KVM is opened) and refused for an
// AArch32 guest.
func TestBuildSymbols(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kernel := write("Image", testimage.Arm64(1<<20, 0, 20<<20))
	zimage := write("zImage", testimage.Zimage(8192))
	notMap := write("notes.txt", []byte("this is not a symbol table\n"))
	sysmap := write("System.map", []byte("ffff800008000000 T _text\nffff800008010000 T vectors\n"))
	for _, tc := range []struct {
		spec    Spec
		symbols string
		want    string
	}{
		{Spec{Kernel: kernel}, filepath.Join(dir, "none"), "symbols: open " + filepath.Join(dir, "none")},
		{Spec{Kernel: kernel}, notMap, notMap},
		{Spec{Kernel: zimage, AArch32: true}, sysmap, "backtraces are for AArch64 guests"},
	} {
		_, err := Build(tc.spec, Options{Symbols: tc.symbols})
		if !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a usage error saying %q", tc.symbols, err, tc.want)
		}
	}
	// A good one gets as far as KVM.
	_, err := Build(Spec{Kernel: kernel, KVMDevice: filepath.Join(dir, "kvm")}, Options{Symbols: sysmap})
	if err == nil || vmm.IsConfigError(err) || !strings.Contains(err.Error(), filepath.Join(dir, "kvm")) {
		t.Errorf("with a System.map and no KVM: %v", err)
	}
}

// TestRecorderSystemCalls: only a run with a results file may rename and
// unlink (never a directory) after the run.
func TestRecorderSystemCalls(t *testing.T) {
	r, err := NewRecorder(RecorderOptions{Bisect: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Machine{{}, {rec: r}} {
		if cs := onArch(t, machineCalls(m), "arm64"); len(cs["renameat"]) != 0 || len(cs["unlinkat"]) != 0 {
			t.Errorf("no results file, yet %+v", cs)
		}
	}
	path := filepath.Join(t.TempDir(), "out.json")
	withFile, err := NewRecorder(RecorderOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer withFile.out.Abort()
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		cs := onArch(t, machineCalls(&Machine{rec: withFile}), arch)
		if len(cs["renameat"]) != 1 || cs["renameat"][0].Args != nil {
			t.Errorf("%s: renameat %+v", arch, cs["renameat"])
		}
		if u := cs["unlinkat"]; len(u) != 1 || u[0].Args == nil || u[0].Args.Index != 2 || len(u[0].Args.Values) != 1 || u[0].Args.Values[0].V != 0 {
			t.Errorf("%s: unlinkat %+v, want it without AT_REMOVEDIR only", arch, u)
		}
	}
}
