package kvmstats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc's CPU times: clock ticks of USER_HZ, 100 on
// every architecture gokvm builds for (arm64, arm, x86), whatever the
// kernel's own HZ.
const userHZ = 100

// tickUS is one USER_HZ tick in microseconds.
const tickUS = 1_000_000 / userHZ

// ProcStat is what this package takes from /proc/PID/stat (proc(5)).
type ProcStat struct {
	Comm string
	// User, System and Guest are CPU times in clock ticks (fields 14,
	// 15 and 43). The kernel counts time in the guest (KVM_RUN with the
	// guest running) as user time too, so User includes Guest.
	User, System, Guest uint64
}

// ParseStat parses a /proc/PID/stat or /proc/PID/task/TID/stat line.
// The command name is between the first '(' and the last ')': it may
// hold spaces and parentheses itself.
func ParseStat(line string) (ProcStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return ProcStat{}, fmt.Errorf("stat line without a (command): %.80q", line)
	}
	// f[0] is field 3 (state): field n is f[n-3].
	f := strings.Fields(line[end+1:])
	if len(f) < 43-2 {
		return ProcStat{}, fmt.Errorf("stat line of %d fields, want at least 43 (a kernel older than 2.6.24): %.80q", len(f)+2, line)
	}
	var vals [3]uint64
	for i, n := range []int{14, 15, 43} {
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return ProcStat{}, fmt.Errorf("stat field %d: %w", n, err)
		}
		vals[i] = v
	}
	return ProcStat{Comm: line[open+1 : end], User: vals[0], System: vals[1], Guest: vals[2]}, nil
}

// ParseSwitches takes the voluntary and involuntary context switches from
// a /proc/PID/task/TID/status file: a thread's voluntary switches are its
// sleeps (each ends with a wakeup), its involuntary ones preemptions.
func ParseSwitches(status string) (voluntary, involuntary uint64, _ error) {
	var seen int
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "voluntary_ctxt_switches" && name != "nonvoluntary_ctxt_switches") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status %s: %w", name, err)
		}
		if name == "voluntary_ctxt_switches" {
			voluntary = v
		} else {
			involuntary = v
		}
		seen++
	}
	if seen != 2 {
		return 0, 0, fmt.Errorf("status without voluntary_ctxt_switches and nonvoluntary_ctxt_switches")
	}
	return voluntary, involuntary, nil
}

// ThreadKind sorts a VMM's threads by name: vcpu threads (gokvm-vcpuN,
// kvmtool's kvm-vcpu-N), the host kernel's vhost workers for the process
// (vhost-PID), and the rest.
func ThreadKind(comm string, pid int) string {
	switch {
	case comm == "vhost-"+strconv.Itoa(pid):
		return "vhost"
	case strings.Contains(comm, "vcpu"):
		return "vcpu"
	}
	return ""
}

// ReadProcess reads, under procDir (/proc), the host's counters of
// process pid:
//
//	host.user_us, host.system_us, host.guest_us   the whole process, ended threads included
//	                                             (user includes guest)
//	host.vcpu_user_us, host.vcpu_system_us,
//	host.vcpu_guest_us                          its vcpu threads
//	host.voluntary_switches,
//	host.involuntary_switches                   over its threads (ended ones are lost)
//	host.vcpu_voluntary_switches,
//	host.vcpu_involuntary_switches              its vcpu threads
//	host.vcpu_migrations                        times its vcpu threads moved to another CPU
//	                                             (/proc's sched file, CONFIG_SCHED_DEBUG)
//	host.vhost_us, host.vhost_switches          the vhost workers serving it (vhost-PID):
//	                                             kernel threads up to Linux 6.3, outside the
//	                                             process; its own threads from 6.4
//
// CPU times have /proc's resolution, one clock tick (10 ms).
func ReadProcess(procDir string, pid int) (Counters, error) {
	base := filepath.Join(procDir, strconv.Itoa(pid))
	whole, err := readStat(filepath.Join(base, "stat"))
	if err != nil {
		return nil, err
	}
	c := Counters{
		"host.user_us":   whole.User * tickUS,
		"host.system_us": whole.System * tickUS,
		"host.guest_us":  whole.Guest * tickUS,
	}
	tasks, err := os.ReadDir(filepath.Join(base, "task"))
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		// A thread may end meanwhile: it is left out, not an error.
		th, err := readThread(filepath.Join(base, "task", t.Name()))
		if err != nil {
			continue
		}
		c["host.voluntary_switches"] += th.voluntary
		c["host.involuntary_switches"] += th.involuntary
		switch ThreadKind(th.Comm, pid) {
		case "vcpu":
			c["host.vcpu_user_us"] += th.User * tickUS
			c["host.vcpu_system_us"] += th.System * tickUS
			c["host.vcpu_guest_us"] += th.Guest * tickUS
			c["host.vcpu_voluntary_switches"] += th.voluntary
			c["host.vcpu_involuntary_switches"] += th.involuntary
			// KVM flushes a vcpu's TLB entries when it moves to a
			// CPU another vcpu ran on since; a kernel without
			// the sched file gives no figure.
			if n, ok := readMigrations(filepath.Join(base, "task", t.Name(), "sched")); ok {
				c["host.vcpu_migrations"] += n
			}
		case "vhost":
			th.addVhost(c)
		}
	}
	if err := readKernelVhost(c, procDir, pid); err != nil {
		return nil, err
	}
	return c, nil
}

// readMigrations reads se.nr_migrations from a thread's sched file.
func readMigrations(path string) (uint64, bool) {
	b, err := readFile(path)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(name) == "se.nr_migrations" {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// thread is one thread's CPU times and context switches.
type thread struct {
	ProcStat
	voluntary, involuntary uint64
}

func readThread(dir string) (thread, error) {
	st, err := readStat(filepath.Join(dir, "stat"))
	if err != nil {
		return thread{}, err
	}
	b, err := readFile(filepath.Join(dir, "status"))
	if err != nil {
		return thread{}, err
	}
	vol, invol, err := ParseSwitches(string(b))
	if err != nil {
		return thread{}, fmt.Errorf("%s: %w", dir, err)
	}
	return thread{ProcStat: st, voluntary: vol, involuntary: invol}, nil
}

// addVhost adds a vhost worker's CPU time and switches to c.
func (th thread) addVhost(c Counters) {
	c["host.vhost_us"] += (th.User + th.System) * tickUS
	c["host.vhost_switches"] += th.voluntary + th.involuntary
}

// readKernelVhost adds the vhost kernel threads serving pid (Linux up to
// 6.3 runs each vhost device's work in a kernel thread vhost-PID, which is
// no thread of the process) to host.vhost_us and host.vhost_switches.
func readKernelVhost(c Counters, procDir string, pid int) error {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return err
	}
	self := strconv.Itoa(pid)
	for _, e := range entries {
		if e.Name() == self || strings.TrimLeft(e.Name(), "0123456789") != "" {
			continue
		}
		dir := filepath.Join(procDir, e.Name())
		comm, err := readFile(filepath.Join(dir, "comm"))
		if err != nil || ThreadKind(strings.TrimSpace(string(comm)), pid) != "vhost" {
			continue
		}
		if th, err := readThread(dir); err == nil {
			th.addVhost(c)
		}
	}
	return nil
}

func readStat(path string) (ProcStat, error) {
	b, err := readFile(path)
	if err != nil {
		return ProcStat{}, err
	}
	st, err := ParseStat(strings.TrimSpace(string(b)))
	if err != nil {
		return ProcStat{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ReadSelf reads this process's counters: host.user_us, host.system_us
// and host.guest_us from /proc/self/stat, and the context switches of
// all its threads, ended ones too, from getrusage (host.voluntary_switches,
// host.involuntary_switches).
func ReadSelf() (Counters, error) {
	st, err := readStat("/proc/self/stat")
	if err != nil {
		return nil, err
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return nil, fmt.Errorf("getrusage: %w", err)
	}
	return Counters{
		"host.user_us":              st.User * tickUS,
		"host.system_us":            st.System * tickUS,
		"host.guest_us":             st.Guest * tickUS,
		"host.voluntary_switches":   uint64(ru.Nvcsw),
		"host.involuntary_switches": uint64(ru.Nivcsw),
	}, nil
}
