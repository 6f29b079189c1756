package kvmstats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A VMM's threads make system calls of their own besides KVM_RUN and the
// device I/O: a Go program's scheduler parks and wakes threads (futex),
// waits on its poller (epoll_pwait), spins (sched_yield, nanosleep) and
// preempts with signals. /proc counts none of that, so SyscallTrace
// counts every system call of the host by thread and number in the
// kernel, with a histogram trigger on the raw_syscalls:sys_enter
// tracepoint (CONFIG_HIST_TRIGGERS), and Read sums the counts of one
// process's threads by kind. The trigger slows every system call of the
// host a little, by the same amount a call under any VMM (so more in all
// for one that makes more calls); threads that ended before a reading are
// not in it.

// syscallHist is the trigger; the same text with a leading "!" removes it.
const syscallHist = "hist:keys=common_pid,id:size=16384"

// SyscallGroups are the kinds Read counts, each as "sys.KIND" (always
// present, 0 when none), with "sys.total" and "sys.vcpu" (the calls of
// the vcpu threads).
var SyscallGroups = []string{"ioctl", "io", "futex", "poll", "idle", "signal", "memory", "other"}

// syscallGroup is the kind of system call nr: one of SyscallGroups. A
// switch rather than a table, so that gokvm, which imports this package
// for --stats, builds nothing at start-up for the benchmark's sake.
func syscallGroup(nr uint64) string {
	switch nr {
	case unix.SYS_IOCTL:
		return "ioctl"
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV,
		unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_PREADV, unix.SYS_PWRITEV,
		unix.SYS_PREADV2, unix.SYS_PWRITEV2, unix.SYS_FSYNC, unix.SYS_FDATASYNC:
		return "io"
	case unix.SYS_FUTEX:
		return "futex"
	case unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_CTL, unix.SYS_PPOLL, unix.SYS_PSELECT6:
		return "poll"
	case unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_SCHED_YIELD:
		return "idle"
	case unix.SYS_TGKILL, unix.SYS_RT_SIGRETURN, unix.SYS_RT_SIGPROCMASK, unix.SYS_SIGALTSTACK, unix.SYS_GETPID, unix.SYS_GETTID:
		return "signal"
	case unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MPROTECT:
		return "memory"
	}
	return archSyscallGroup(nr)
}

// SyscallTrace is an armed histogram of the host's system calls.
type SyscallTrace struct {
	event string // the tracepoint's directory in tracefs
}

// StartSyscallTrace arms an empty histogram, replacing one an earlier
// run left armed. It needs root and tracefs (mounted where the kernel
// expects it when it is not yet).
func StartSyscallTrace() (*SyscallTrace, error) {
	dir, err := TracingDir()
	if err != nil {
		return nil, err
	}
	t := &SyscallTrace{event: filepath.Join(dir, "events/raw_syscalls/sys_enter")}
	t.trigger("!" + syscallHist) // refused when none is armed
	if err := t.trigger(syscallHist); err != nil {
		return nil, fmt.Errorf("arming the system call histogram: %w", err)
	}
	return t, nil
}

func (t *SyscallTrace) trigger(s string) error { return AddTrigger(t.event, s) }

// AddTrigger writes a trigger (or, with a leading "!", its removal) to
// the trigger file of a tracepoint's directory event. It appends: opening
// the file with O_TRUNC would remove every trigger on the event, not only
// this one.
func AddTrigger(event, trigger string) error {
	f, err := os.OpenFile(filepath.Join(event, "trigger"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(trigger)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stop disarms the histogram.
func (t *SyscallTrace) Stop() error { return t.trigger("!" + syscallHist) }

// Read sums the histogram's counts for the threads process pid has now
// (under procDir, /proc), by kind.
func (t *SyscallTrace) Read(procDir string, pid int) (Counters, error) {
	hist, err := os.ReadFile(filepath.Join(t.event, "hist"))
	if err != nil {
		return nil, err
	}
	base := filepath.Join(procDir, strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(base)
	if err != nil {
		return nil, err
	}
	vcpu := map[int]bool{}
	for _, e := range tasks {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := readFile(filepath.Join(base, e.Name(), "comm"))
		vcpu[tid] = ThreadKind(strings.TrimSpace(string(comm)), pid) == "vcpu"
	}
	return syscallCounters(string(hist), vcpu)
}

var (
	syscallHistLine    = regexp.MustCompile(`\{ common_pid:\s*(?:\S*-)?(\d+)\s*, id:\s*(\d+)\s*\} hitcount:\s*(\d+)`)
	syscallHistTrigger = regexp.MustCompile(`(?m)^# trigger info: hist:keys=common_pid,id:`)
	syscallHistDropped = regexp.MustCompile(`(?m)^\s*Dropped:\s*(\d+)`)
)

// syscallCounters sums a histogram's lines for the threads in vcpu (a
// thread id to whether it is a vcpu thread). A text that is not this
// histogram (another trigger's, or none armed), and one that dropped
// counts because its table was full, are errors.
func syscallCounters(hist string, vcpu map[int]bool) (Counters, error) {
	if !syscallHistTrigger.MatchString(hist) {
		return nil, errors.New("no system call histogram armed")
	}
	if m := syscallHistDropped.FindStringSubmatch(hist); m == nil {
		return nil, errors.New("the system call histogram has no totals")
	} else if m[1] != "0" {
		return nil, fmt.Errorf("the system call histogram is full: %s counts dropped", m[1])
	}
	c := Counters{"sys.total": 0, "sys.vcpu": 0}
	for _, g := range SyscallGroups {
		c["sys."+g] = 0
	}
	for _, m := range syscallHistLine.FindAllStringSubmatch(hist, -1) {
		tid, _ := strconv.Atoi(m[1])
		isVcpu, ours := vcpu[tid]
		if !ours {
			continue
		}
		nr, _ := strconv.ParseUint(m[2], 10, 64)
		n, _ := strconv.ParseUint(m[3], 10, 64)
		c["sys."+syscallGroup(nr)] += n
		c["sys.total"] += n
		if isVcpu {
			c["sys.vcpu"] += n
		}
	}
	return c, nil
}

// TracingDir finds tracefs, mounting it where the kernel expects it.
func TracingDir() (string, error) {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "events")); err == nil {
			return d, nil
		}
	}
	const d = "/sys/kernel/tracing"
	if err := unix.Mount("tracefs", d, "tracefs", 0, ""); err != nil {
		return "", fmt.Errorf("mounting tracefs on %s: %w", d, err)
	}
	return d, nil
}
