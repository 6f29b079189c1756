// Package seccomp confines gokvm's run phase with a seccomp-bpf filter,
// as Firecracker does: once the VM is built and before the first KVM_RUN,
// every thread of the process (and every thread started later) may make
// only the system calls on the allow-list (Allowed, in allowlist.go), and
// ioctl only with the KVM, tap, terminal and seccomp requests the run
// phase uses (Ioctls). Everything else, such as execve, a new socket,
// opening a file, a signal to another process or a clone that is not a
// thread, is forbidden, unless the machine adds it for a device or an
// option that needs it (Options.Extra: a 9p share's file system calls,
// --stats reading /proc/self/smaps).
//
// A forbidden call ends gokvm with a message naming it: the filter
// answers it with SECCOMP_RET_USER_NOTIF, and a listener goroutine,
// woken by the kernel while the offending thread waits, prints
// "gokvm: seccomp: forbidden system call NAME (nr N, thread T); stopping"
// and exits the process. That needs Linux 5.7 (a listener for a filter
// synchronised to all threads); on older kernels the filter traps
// instead (SECCOMP_RET_TRAP), and the Go runtime dies of the SIGSYS with
// "SIGSYS: bad system call" and a traceback whose innermost frame is the
// system call, its number the first argument.
//
// The program is built from the allow-list with golang.org/x/net/bpf,
// the numbers being x/sys/unix's SYS_ constants for the architecture
// gokvm is built for (zsysnames_linux_*.go; go generate writes them).
package seccomp

//go:generate go run gen_sysnames.go

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mode is what the filter does with a forbidden call.
type Mode string

// Modes, as --seccomp and the spec's "seccomp" field spell them.
const (
	// Off installs no filter.
	Off Mode = "off"
	// On stops gokvm at the first forbidden call, naming it.
	On Mode = "on"
	// Log lets forbidden calls through, naming each (once per call and
	// argument) on stderr: for finding what the allow-list lacks.
	Log Mode = "log"
)

// ParseMode reads a mode as --seccomp takes it.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Off, On, Log:
		return m, nil
	}
	return "", fmt.Errorf("%q: want on, off or log", s)
}

// Options say how the filter reports.
type Options struct {
	Mode Mode
	// Prefix starts every message (e.g. "gokvm: "); messages go to
	// standard error, written directly to descriptor 2.
	Prefix string
	// ExitStatus is the process's exit status after a forbidden call
	// (1 when 0).
	ExitStatus int
	// Extra are calls a device of this machine needs beyond Allowed (a
	// 9p share's file system calls): they are allowed only when such a
	// device exists. An extra call that Allowed already limits replaces
	// that entry when it has no argument rule, and adds its values to the
	// rule otherwise. Calls this architecture does not have are skipped.
	Extra []Call
}

// Installed reports how the process's filter was installed.
type Installed struct {
	Mode Mode
	// Listener says a forbidden call is named by gokvm's listener;
	// false where the kernel lacks it and the filter traps instead.
	Listener bool
}

var (
	installMu sync.Mutex
	installed *Installed
	// noListener makes Install take the path of a kernel without a
	// listener for all threads (tests).
	noListener bool
)

// Active reports whether Install has put a filter on the process.
func Active() bool {
	installMu.Lock()
	defer installMu.Unlock()
	return installed != nil
}

// ErrCgo says Install refused a binary that links cgo.
var ErrCgo = errors.New("seccomp: this binary links cgo (built natively with CGO_ENABLED=1, or with -race), so its threads are started by libc with system calls the filter forbids: build it with CGO_ENABLED=0, as make build does")

// Install puts the filter on every thread of the process. A filter cannot
// be taken off: a second Install with the same mode does nothing, and
// with another mode fails. Mode Off installs nothing.
func Install(o Options) (Installed, error) {
	if o.Mode == Off || o.Mode == "" {
		return Installed{Mode: Off}, nil
	}
	if o.Mode != On && o.Mode != Log {
		return Installed{}, fmt.Errorf("seccomp: unknown mode %q", o.Mode)
	}
	if o.ExitStatus == 0 {
		o.ExitStatus = 1
	}
	installMu.Lock()
	defer installMu.Unlock()
	if installed != nil {
		if installed.Mode != o.Mode {
			return *installed, fmt.Errorf("seccomp: the process already has the filter in mode %s", installed.Mode)
		}
		return *installed, nil
	}
	if iscgo {
		return Installed{}, ErrCgo
	}
	t, err := nativeTarget()
	if err != nil {
		return Installed{}, err
	}
	// The Go standard library loads the local time zone on first use
	// (/etc/localtime, opened when a time is first formatted or its zone
	// asked), which may come after the filter: load it now, while files
	// may still be opened.
	_ = time.Local.String()
	calls, err := merge(t, Allowed, o.Extra)
	if err != nil {
		return Installed{}, err
	}
	notify, err := build(t, calls, unix.SECCOMP_RET_USER_NOTIF)
	if err != nil {
		return Installed{}, err
	}
	trap, err := build(t, calls, unix.SECCOMP_RET_TRAP)
	if err != nil {
		return Installed{}, err
	}

	// no_new_privs and the filter are set on this thread, and TSYNC
	// carries both to every other thread of the process.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return Installed{}, fmt.Errorf("seccomp: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fd, err := uintptr(0), error(unix.EINVAL)
	if !noListener {
		fd, err = setFilter(notify, unix.SECCOMP_FILTER_FLAG_TSYNC|unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH|unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	}
	if err == nil {
		in := Installed{Mode: o.Mode, Listener: true}
		installed = &in
		l := &listener{fd: int(fd), opts: o, names: sysNames}
		go l.run()
		return in, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
		return Installed{}, fmt.Errorf("seccomp: installing the filter: %w", err)
	}
	// Before Linux 5.7 a listener cannot be had together with TSYNC
	// (and before 5.0 not at all): trap instead. In log mode, a forbidden
	// call cannot be let through without a listener.
	if o.Mode == Log {
		return Installed{}, fmt.Errorf("seccomp: --seccomp log needs Linux 5.7 or newer (seccomp user notification for all threads): %w", err)
	}
	if _, err := setFilter(trap, unix.SECCOMP_FILTER_FLAG_TSYNC); err != nil {
		return Installed{}, fmt.Errorf("seccomp: installing the filter: %w", err)
	}
	in := Installed{Mode: o.Mode}
	installed = &in
	return in, nil
}

// build makes the program for t with the given action for a forbidden
// call.
func build(t target, calls []Call, deny uint32) ([]unix.SockFilter, error) {
	prog, err := program(t, calls, deny)
	if err != nil {
		return nil, err
	}
	return assemble(prog)
}

// setFilter is seccomp(SECCOMP_SET_MODE_FILTER, flags, prog). With TSYNC
// but not TSYNC_ESRCH, a thread that cannot be synchronised comes back
// as its id.
func setFilter(filter []unix.SockFilter, flags uintptr) (uintptr, error) {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return 0, errno
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 && r != 0 {
		return 0, fmt.Errorf("thread %d cannot take the filter (it has a filter of its own)", r)
	}
	return r, nil
}

// seccompNotif is struct seccomp_notif (linux/seccomp.h).
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

// seccompNotifResp is struct seccomp_notif_resp.
type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// listener receives the kernel's notifications of forbidden calls.
type listener struct {
	fd    int
	opts  Options
	names map[uintptr]string
	seen  map[string]bool // log mode: calls already reported, by number and checked arguments
}

// run waits for forbidden calls. It keeps to one thread and makes only
// allowed calls (the listener's ioctls, write, exit_group), so the filter
// never stops the goroutine that enforces it.
func (l *listener) run() {
	runtime.LockOSThread()
	var n seccompNotif
	for {
		n = seccompNotif{} // the kernel wants it zeroed
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		switch errno {
		case 0:
		case unix.EINTR, unix.ENOENT: // interrupted; or the caller went away first
			continue
		default:
			l.write(fmt.Sprintf("%sseccomp: the listener failed (%v); forbidden calls now fail with ENOSYS\n", l.opts.Prefix, errno))
			return
		}
		if l.opts.Mode == Log {
			l.report(&n)
			r := seccompNotifResp{id: n.id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
			unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&r)))
			continue
		}
		l.write(l.opts.Prefix + "seccomp: forbidden system call " + l.describe(&n) + "; stopping\n")
		unix.Syscall(unix.SYS_EXIT_GROUP, uintptr(l.opts.ExitStatus), 0, 0)
	}
}

// report names a call let through in log mode, once per call and
// checked argument.
func (l *listener) report(n *seccompNotif) {
	key := strconv.Itoa(int(n.nr)) + l.checkedArgs(n)
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if l.seen[key] {
		return
	}
	l.seen[key] = true
	l.write(l.opts.Prefix + "seccomp: system call " + l.describe(n) + " is not allowed; let through (--seccomp log)\n")
}

// describe names a call: "socket (nr 41, thread 1234)", with the checked
// arguments for a call that is allowed only with some values.
func (l *listener) describe(n *seccompNotif) string {
	name, ok := l.names[uintptr(n.nr)]
	if !ok {
		name = "unknown"
	}
	return name + " (nr " + strconv.Itoa(int(n.nr)) + l.checkedArgs(n) + ", thread " + strconv.FormatUint(uint64(n.pid), 10) + ")"
}

// checkedArgs is ", argument I = 0xV" for each argument the allow-list
// checks for the call, empty for a call it allows or forbids whatever
// the arguments.
func (l *listener) checkedArgs(n *seccompNotif) string {
	c := l.call(n.nr)
	if c == nil {
		return ""
	}
	s := ""
	for r, depth := c.Args, 0; r != nil && depth < maxArgRules; r, depth = r.And, depth+1 {
		if r.Index < 0 || r.Index >= len(n.args) {
			continue
		}
		s += ", argument " + strconv.Itoa(r.Index) + " = 0x" + strconv.FormatUint(n.args[r.Index], 16)
	}
	return s
}

// call finds the allow-list entry for a number.
func (l *listener) call(nr int32) *Call {
	name, ok := l.names[uintptr(nr)]
	if !ok {
		return nil
	}
	for i := range Allowed {
		if Allowed[i].Name == name && Allowed[i].applies(target{goarch: goarch}) {
			return &Allowed[i]
		}
	}
	return nil
}

// write puts a message on standard error without Go's os.File (whose
// lock a stopped thread might hold).
func (l *listener) write(s string) {
	b := []byte(s)
	for len(b) > 0 {
		n, err := unix.Write(2, b)
		if err != nil && err != unix.EINTR {
			return
		}
		if n > 0 {
			b = b[n:]
		}
	}
}
