// Package scenario runs gokvm with given arguments and records what the
// guest printed, line by line with the time each line arrived, and gokvm's
// exit status. The emulated arm64 host's init runs scenarios this way, and so
// does the test itself on a real arm64 host.
package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/kprofile"
	"github.com/gokvm/gokvm/vmm/kvmstats"
)

// Scenario is one gokvm invocation.
type Scenario struct {
	Name string
	// Args are gokvm's arguments; $GUEST is replaced by the directory
	// holding the guest payloads, $WORK by a scratch directory.
	Args []string
	// Program, when set, is run with Args instead of gokvm ($GUEST and
	// $WORK are replaced in it too): a test binary run on the host, such
	// as the core's KVM-level tests.
	Program string
	// Timeout kills gokvm if it runs longer (a test's safety net).
	Timeout time.Duration
	// Before and After are shell-free commands run around gokvm, e.g. to
	// prepare or check a disk image; their output is recorded.
	Before, After [][]string
	// Background commands start after Before and run beside gokvm; their
	// output is recorded once they end (they get a grace period after
	// gokvm exits, then are killed).
	Background [][]string
	// Stdin is written to gokvm's standard input (the guest's console)
	// once a console line contains StdinAfter: input sent before the
	// guest's serial driver starts is flushed, as on real hardware.
	Stdin, StdinAfter string
	// Signals are sent to gokvm, each its After after gokvm started.
	Signals []TimedSignal
	// Env is added to gokvm's environment (NAME=value), $WORK and
	// $GUEST expanded.
	Env []string
	// UID, when not zero, runs gokvm as that user and group (no
	// capabilities), as CI runners do; the host must let that user open
	// what gokvm needs (/dev/kvm).
	UID uint32
	// Collect names files (with $WORK and $GUEST) whose contents are
	// returned in the result after the run.
	Collect []string
	// SampleOn lists texts of console lines on which the runner reads
	// the counters of the VMM's process as the line arrives
	// (kvmstats.Sample: its VM's KVM statistics from debugfs, its
	// threads' CPU time and context switches): a benchmark's guest
	// prints one as a workload begins and one as it ends.
	SampleOn []string
	// TraceSyscalls adds, to each sample, the system calls the VMM's
	// threads made, by kind (kvmstats.SyscallTrace: a histogram trigger
	// on every system call of the host, armed for the run).
	TraceSyscalls bool `json:",omitempty"`
	// KernelProfile adds, to each sample, where the host kernel spent
	// the VMM's threads' time since the previous sample (kprofile: a
	// cpu-clock perf event on every CPU, sampling for the run).
	KernelProfile bool `json:",omitempty"`
}

// Sample is the VMM's counters as a SampleOn line arrived.
type Sample struct {
	Line     string // the console line
	MS       int64  // when they were read, milliseconds after the VMM started
	TookMS   int64  // how long reading them took
	Counters kvmstats.Counters
	// KernelStacks are the kernel's folded stacks of the VMM's threads
	// since the previous sample (Scenario.KernelProfile), each sample
	// kprofile.Period of CPU time; KernelLost counts samples lost to a
	// full buffer.
	KernelStacks kprofile.Stacks `json:",omitempty"`
	KernelLost   uint64          `json:",omitempty"`
	// Err says what could not be read (debugfs not mounted, not root):
	// Counters has the rest.
	Err string `json:",omitempty"`
}

// TimedSignal is a signal sent to gokvm at a time after its start.
type TimedSignal struct {
	After  time.Duration
	Signal syscall.Signal
}

// Line is one line of guest console output.
type Line struct {
	MS   int64 // milliseconds after gokvm started
	Text string
}

// Result is what a scenario did.
type Result struct {
	Name      string
	Exit      int
	Lines     []Line
	Stderr    string
	ElapsedMS int64
	// TimedOut says the safety timeout (Scenario.Timeout) ended the run:
	// its exit status is then the kill's, not the program's own.
	TimedOut bool `json:",omitempty"`
	// Notes holds the output of Before/After commands and runner errors.
	Notes []string
	// Files holds the collected files, by their name in Collect.
	Files map[string][]byte
	// Samples are the counters read on SampleOn lines, in order.
	Samples []Sample `json:",omitempty"`
}

// Output is the guest console as one string.
func (r *Result) Output() string {
	var b strings.Builder
	for _, l := range r.Lines {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// LineMS returns when the first line containing s arrived, or -1.
func (r *Result) LineMS(s string) int64 {
	for _, l := range r.Lines {
		if strings.Contains(l.Text, s) {
			return l.MS
		}
	}
	return -1
}

func expand(args []string, guest, work string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.NewReplacer("$GUEST", guest, "$WORK", work).Replace(a)
	}
	return out
}

// Run runs s with the gokvm binary at gokvm.
func Run(gokvm, guestDir, workDir string, s Scenario) (r Result) {
	r = Result{Name: s.Name, Exit: -1}
	for _, c := range s.Before {
		r.Notes = append(r.Notes, runAux(expand(c, guestDir, workDir)))
	}
	var bg []*exec.Cmd
	var bgOut []*bytes.Buffer
	for _, c := range s.Background {
		argv := expand(c, guestDir, workDir)
		cmd := exec.Command(argv[0], argv[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			r.Notes = append(r.Notes, "background: "+err.Error())
			continue
		}
		bg, bgOut = append(bg, cmd), append(bgOut, &out)
	}
	defer func() {
		for i, cmd := range bg {
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			r.Notes = append(r.Notes, fmt.Sprintf("$ %s (background)\n%s", strings.Join(cmd.Args, " "), bgOut[i]))
		}
	}()
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	prog := gokvm
	if s.Program != "" {
		prog = expand([]string{s.Program}, guestDir, workDir)[0]
	}
	cmd := exec.CommandContext(ctx, prog, expand(s.Args, guestDir, workDir)...)
	// On the safety timeout, first SIGUSR1: gokvm prints where each vcpu
	// is (the guest's side of a hang); then SIGQUIT: Go prints every
	// goroutine's stack (gokvm's side); SIGKILL follows. Another program
	// gets only SIGQUIT: SIGUSR1 would kill a Go program that does not
	// handle it before it printed its stacks.
	cmd.Cancel = func() error {
		if s.Program == "" {
			cmd.Process.Signal(syscall.SIGUSR1)
			time.Sleep(3 * time.Second)
		}
		return cmd.Process.Signal(syscall.SIGQUIT)
	}
	cmd.WaitDelay = 5 * time.Second
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), expand(s.Env, guestDir, workDir)...)
	}
	if s.UID != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: s.UID, Gid: s.UID}}
	}
	var stdin io.WriteCloser
	if s.Stdin != "" {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			r.Notes = append(r.Notes, "runner: "+err.Error())
			return r
		}
		defer stdin.Close()
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.Notes = append(r.Notes, "runner: "+err.Error())
		return r
	}
	var trace *kvmstats.SyscallTrace
	if s.TraceSyscalls {
		if trace, err = kvmstats.StartSyscallTrace(); err != nil {
			r.Notes = append(r.Notes, "runner: "+err.Error())
		} else {
			// Left armed, it would slow every system call of the host.
			defer func() {
				if err := trace.Stop(); err != nil {
					r.Notes = append(r.Notes, "runner: disarming the system call histogram: "+err.Error())
				}
			}()
		}
	}
	var prof *kprofile.Profiler
	if s.KernelProfile {
		if prof, err = kprofile.Start(); err != nil {
			r.Notes = append(r.Notes, "runner: "+err.Error())
		} else {
			defer prof.Close()
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Notes = append(r.Notes, "runner: "+err.Error())
		return r
	}
	for _, sig := range s.Signals {
		t := time.AfterFunc(sig.After, func() { cmd.Process.Signal(sig.Signal) })
		defer t.Stop()
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		r.Lines = append(r.Lines, Line{MS: time.Since(start).Milliseconds(), Text: text})
		if sampleOn(s.SampleOn, text) {
			r.Samples = append(r.Samples, sample(cmd.Process.Pid, text, start, trace, prof))
		}
		if stdin != nil && strings.Contains(text, s.StdinAfter) {
			io.WriteString(stdin, s.Stdin)
			stdin = nil
		}
	}
	err = cmd.Wait()
	r.ElapsedMS = time.Since(start).Milliseconds()
	r.Stderr = stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.Exit = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.Exit = ee.ExitCode()
	default:
		r.Notes = append(r.Notes, fmt.Sprintf("runner: gokvm did not exit by itself: %v", err))
	}
	if ctx.Err() != nil {
		r.TimedOut = true
		r.Notes = append(r.Notes, fmt.Sprintf("runner: killed after the %v safety timeout", timeout))
	}
	for _, c := range s.After {
		r.Notes = append(r.Notes, runAux(expand(c, guestDir, workDir)))
	}
	for _, name := range s.Collect {
		b, err := os.ReadFile(expand([]string{name}, guestDir, workDir)[0])
		if err != nil {
			r.Notes = append(r.Notes, "collect: "+err.Error())
			continue
		}
		if r.Files == nil {
			r.Files = map[string][]byte{}
		}
		r.Files[name] = b
	}
	return r
}

func sampleOn(marks []string, line string) bool {
	for _, m := range marks {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

// sample reads the VMM's counters now, while the guest waits after
// printing line: reading them takes milliseconds, and the console is
// read on once they are in.
func sample(pid int, line string, start time.Time, trace *kvmstats.SyscallTrace, prof *kprofile.Profiler) Sample {
	t := time.Now()
	c, err := kvmstats.Sample(pid)
	if trace != nil {
		sys, serr := trace.Read("/proc", pid)
		if serr != nil {
			err = errors.Join(err, fmt.Errorf("system calls: %w", serr))
		}
		c.Add(sys)
	}
	var stacks kprofile.Stacks
	var lost uint64
	if prof != nil {
		var perr error
		if stacks, lost, perr = prof.Drain(pid); perr != nil {
			err = errors.Join(err, fmt.Errorf("kernel profile: %w", perr))
		}
	}
	s := Sample{Line: line, MS: time.Since(start).Milliseconds(), TookMS: time.Since(t).Milliseconds(), Counters: c, KernelStacks: stacks, KernelLost: lost}
	if err != nil {
		s.Err = err.Error()
	}
	return s
}

func runAux(argv []string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	s := fmt.Sprintf("$ %s\n%s", strings.Join(argv, " "), out)
	if err != nil {
		s += fmt.Sprintf("(%v)\n", err)
	}
	return s
}

// Framing of results on a console that also carries other text.
const (
	beginMark = "GOKVM-RESULT-BEGIN "
	endMark   = "GOKVM-RESULT-END"
)

// Encode writes r as one framed line.
func Encode(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "\n%s%s %s\n", beginMark, base64.StdEncoding.EncodeToString(b), endMark)
	return err
}

// Decode finds every framed result in console output.
func Decode(console string) (map[string]Result, error) {
	out := map[string]Result{}
	for _, line := range strings.Split(console, "\n") {
		i := strings.Index(line, beginMark)
		if i < 0 {
			continue
		}
		rest := line[i+len(beginMark):]
		j := strings.Index(rest, " "+endMark)
		if j < 0 {
			return out, fmt.Errorf("result line without end mark: %.80q", line)
		}
		raw, err := base64.StdEncoding.DecodeString(rest[:j])
		if err != nil {
			return out, fmt.Errorf("result line: %v", err)
		}
		var r Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return out, fmt.Errorf("result line: %v", err)
		}
		out[r.Name] = r
	}
	return out, nil
}

// ElideResults is console with each result line shortened to the
// scenario's name, for error messages that show a console's tail.
func ElideResults(console string) string {
	lines := strings.Split(console, "\n")
	for i, line := range lines {
		j := strings.Index(line, beginMark)
		if j < 0 {
			continue
		}
		name := "?"
		rest, _, _ := strings.Cut(line[j+len(beginMark):], " ")
		if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
			var r Result
			if json.Unmarshal(raw, &r) == nil {
				name = r.Name
			}
		}
		lines[i] = line[:j] + "[result of scenario " + name + "]"
	}
	return strings.Join(lines, "\n")
}
