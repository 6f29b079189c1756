package seccomp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gokvm/gokvm/vmm/kvmstats"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a child that installs the filter and
// then does what the variable's value names (see child).
const childEnv = "GOKVM_SECCOMP_TEST_CHILD"

// childStatus is the child's exit status after a forbidden call, apart
// from anything else that could end it.
const childStatus = 7

func TestMain(m *testing.M) {
	if what := os.Getenv(childEnv); what != "" {
		child(what)
		return
	}
	os.Exit(m.Run())
}

// child installs the filter in the mode its name starts with and does
// the rest of its name: a forbidden call, or allowed work, from threads
// that exist before the filter (TSYNC) and from threads made after.
func child(what string) {
	mode, action, _ := strings.Cut(what, ":")
	// Threads that predate the filter: TSYNC must reach them.
	type job struct {
		fn   func()
		done chan struct{}
	}
	jobs := make(chan job)
	for range 4 {
		go func() {
			runtime.LockOSThread()
			for j := range jobs {
				j.fn()
				close(j.done)
			}
		}()
	}
	onOldThread := func(fn func()) {
		j := job{fn, make(chan struct{})}
		jobs <- j
		<-j.done
	}
	time.Sleep(10 * time.Millisecond)

	if mode == "trap" { // as on a kernel older than 5.7
		mode, noListener = string(On), true
	}
	ppid := os.Getppid() // getppid is forbidden once the filter is in
	var extra []Call
	if action == "work" { // with --stats, as the work reads smaps and gokvm's CPU time
		extra = []Call{ReadOnlyOpenat("test: --stats"), {Name: "getrusage", Why: "test: --stats"}}
	}
	if Active() {
		fmt.Fprintln(os.Stderr, "a filter is active before Install")
		os.Exit(3)
	}
	in, err := Install(Options{Mode: Mode(mode), Prefix: "child: ", ExitStatus: childStatus, Extra: extra})
	if err != nil {
		fmt.Fprintln(os.Stderr, "install:", err)
		os.Exit(3)
	}
	if !Active() {
		fmt.Fprintln(os.Stderr, "no filter is active after Install")
		os.Exit(3)
	}
	fmt.Printf("installed: mode %s, listener %v\n", in.Mode, in.Listener)
	if _, err := Install(Options{Mode: Mode(mode)}); err != nil {
		fmt.Fprintln(os.Stderr, "second install:", err)
		os.Exit(3)
	}
	other := On
	if Mode(mode) == On {
		other = Log
	}
	if _, err := Install(Options{Mode: other}); err == nil {
		fmt.Fprintln(os.Stderr, "installing another mode did not fail")
		os.Exit(3)
	}

	switch action {
	case "socket":
		onOldThread(func() {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			fmt.Printf("socket returned %d, %v\n", fd, err)
		})
	case "execve":
		err := syscall.Exec("/bin/true", []string{"true"}, nil)
		fmt.Printf("exec returned %v\n", err)
	case "fork":
		// A clone without CLONE_THREAD: a new process.
		r, _, errno := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
		if r == 0 && errno == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the new process
		}
		fmt.Printf("clone returned %d, %v\n", r, errno)
	case "exec":
		// os/exec: stopped at its first forbidden call, whichever it is.
		err := exec.Command("/bin/true").Run()
		fmt.Printf("exec.Command returned %v\n", err)
	case "ioctl":
		onOldThread(func() {
			_, err := unix.IoctlGetInt(0, unix.TIOCSTI)
			fmt.Printf("ioctl returned %v\n", err)
		})
	case "smaps":
		// What --stats reads, without --stats.
		f, err := os.Open("/proc/self/smaps")
		fmt.Printf("open returned %v\n", err)
		if err == nil {
			f.Close()
		}
	case "tgkill":
		// Signal 0 to the parent: delivered nowhere, but another
		// process.
		err := unix.Tgkill(ppid, ppid, 0)
		fmt.Printf("tgkill returned %v\n", err)
	case "work":
		work()
		fmt.Println("work done")
	default:
		fmt.Fprintln(os.Stderr, "unknown action", action)
		os.Exit(3)
	}
	os.Exit(0)
}

// work is what the run phase does, as far as a test can without KVM: many
// threads, garbage collection, timers, eventfds through Go's poller,
// files read, standard output written, a terminal request answered,
// GOMAXPROCS raised and lowered (as vmm.Machine.Run does for its vcpus).
func work() {
	was := runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 2)
	defer runtime.GOMAXPROCS(was)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // forces new threads
			var b [][]byte
			for j := range 200 {
				b = append(b, make([]byte, 4096*(1+j%7)))
			}
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			_ = len(b)
		}()
	}
	wg.Wait()
	runtime.GC()
	// As each vcpu thread takes SCHED_OTHER back (vmm.BatchHelperThreads).
	var prio [4]byte
	if _, _, errno := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, 0, uintptr(unsafe.Pointer(&prio[0]))); errno != 0 {
		panic(fmt.Sprintf("sched_setscheduler on the calling thread: %v", errno))
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		panic(err)
	}
	f := os.NewFile(uintptr(fd), "eventfd")
	go func() {
		time.Sleep(5 * time.Millisecond)
		f.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	}()
	var b [8]byte
	if _, err := f.Read(b[:]); err != nil {
		panic(err)
	}
	f.Close()
	// As --stats reads it after the run (vmm/stats.go).
	smaps, err := os.Open("/proc/self/smaps")
	if err != nil {
		panic(err)
	}
	if n, err := io.Copy(io.Discard, smaps); err != nil || n == 0 {
		panic(fmt.Sprintf("reading smaps: %d bytes, %v", n, err))
	}
	smaps.Close()
	// As --stats reads gokvm's CPU time and context switches after the
	// run (vmm/stats.go): no fstat, which the filter forbids.
	if c, err := kvmstats.ReadSelf(); err != nil || c["host.voluntary_switches"] == 0 {
		panic(fmt.Sprintf("reading gokvm's CPU time: %v, %v", c, err))
	}
	if _, err := unix.IoctlGetTermios(1, unix.TCGETS); err == nil {
		panic("standard output is a terminal")
	}
	debug.FreeOSMemory()
	// The runtime's sysmon re-reads the CPU affinity and cgroup limit
	// every second (GOMAXPROCS updates).
	time.Sleep(1500 * time.Millisecond)
}

var violation = regexp.MustCompile(`child: seccomp: forbidden system call (\S+) \(nr \d+(, argument \d = 0x[0-9a-f]+)*, thread \d+\); stopping`)

// runChild runs the test binary as a child doing what.
func runChild(t *testing.T, what string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+what)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	status = cmd.ProcessState.ExitCode()
	if err != nil && status < 0 {
		t.Fatalf("%s: %v\nstderr: %s", what, err, errb.String())
	}
	return out.String(), errb.String(), status
}

func needSeccomp(t *testing.T) {
	t.Helper()
	if _, err := nativeTarget(); err != nil {
		t.Skip(err)
	}
	if iscgo {
		t.Skip("the test binary links cgo (-race?), whose libc threads the filter forbids (Install refuses)")
	}
}

// TestForbiddenCallStops: a forbidden call, made on a thread that existed
// before the filter or on a new one, ends the process with a message
// naming the call and the failure status; the call does not happen.
func TestForbiddenCallStops(t *testing.T) {
	needSeccomp(t)
	for _, tc := range []struct {
		action string
		names  []string
	}{
		{"socket", []string{"socket"}},
		{"fork", []string{"clone"}},
		{"exec", []string{"openat", "pipe2", "pidfd_open", "clone", "clone3", "vfork"}},
		{"ioctl", []string{"ioctl"}},
		{"smaps", []string{"openat"}},
		{"tgkill", []string{"tgkill"}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			stdout, stderr, status := runChild(t, "on:"+tc.action)
			if !strings.Contains(stdout, "listener true") {
				t.Skipf("the kernel gives no listener (before Linux 5.7?): %s %s", stdout, stderr)
			}
			m := violation.FindStringSubmatch(stderr)
			if status != childStatus || m == nil {
				t.Fatalf("status %d, stderr %q; want %d and a message naming the call", status, stderr, childStatus)
			}
			found := false
			for _, n := range tc.names {
				found = found || m[1] == n
			}
			if !found {
				t.Errorf("the message names %s; want one of %v:\n%s", m[1], tc.names, stderr)
			}
			if strings.Contains(stdout, "returned") {
				t.Errorf("the forbidden call returned: %s", stdout)
			}
			if tc.action == "ioctl" && !strings.Contains(stderr, fmt.Sprintf("argument 1 = 0x%x", unix.TIOCSTI)) {
				t.Errorf("the message does not give the ioctl request: %s", stderr)
			}
		})
	}
}

// TestExecIsTrapped: an exec is never handed to the listener (Go holds
// its exec lock across it, and the listener could wait for a thread for
// ever): it dies of SIGSYS, and Go's traceback shows the exec.
func TestExecIsTrapped(t *testing.T) {
	needSeccomp(t)
	for i := 0; i < 5; i++ { // the hang it replaces came and went with load
		stdout, stderr, status := runChild(t, "on:execve")
		if status == 0 || !strings.Contains(stderr, "SIGSYS: bad system call") || !strings.Contains(stderr, "syscall.Exec") || strings.Contains(stdout, "returned") {
			t.Fatalf("status %d\nstdout: %s\nstderr: %s", status, stdout, stderr)
		}
	}
}

// TestAllowedWorkRuns: what the run phase does is not stopped.
func TestAllowedWorkRuns(t *testing.T) {
	needSeccomp(t)
	stdout, stderr, status := runChild(t, "on:work")
	if status != 0 || !strings.Contains(stdout, "work done") {
		t.Fatalf("status %d\nstdout: %s\nstderr: %s", status, stdout, stderr)
	}
}

// TestLogModeLetsThrough: --seccomp log names a forbidden call and lets
// it happen.
func TestLogModeLetsThrough(t *testing.T) {
	needSeccomp(t)
	stdout, stderr, status := runChild(t, "log:socket")
	if !strings.Contains(stdout, "listener true") {
		t.Skipf("the kernel gives no listener: %s %s", stdout, stderr)
	}
	if status != 0 || !strings.Contains(stdout, "socket returned") || strings.Contains(stdout, "socket returned -1") {
		t.Fatalf("status %d\nstdout: %s\nstderr: %s", status, stdout, stderr)
	}
	if !regexp.MustCompile(`child: seccomp: system call socket \(nr \d+, thread \d+\) is not allowed; let through`).MatchString(stderr) {
		t.Errorf("log mode did not name socket: %q", stderr)
	}
}

// TestForbiddenCallTrapsWithoutListener: where the kernel has no listener
// for a whole process (before Linux 5.7), a forbidden call still stops
// gokvm: the Go runtime dies of the SIGSYS, saying so, with a traceback.
func TestForbiddenCallTrapsWithoutListener(t *testing.T) {
	needSeccomp(t)
	stdout, stderr, status := runChild(t, "trap:socket")
	if !strings.Contains(stdout, "listener false") {
		t.Fatalf("stdout %q", stdout)
	}
	if status == 0 || !strings.Contains(stderr, "SIGSYS: bad system call") || strings.Contains(stdout, "returned") {
		t.Fatalf("status %d\nstdout: %s\nstderr: %s", status, stdout, stderr)
	}
}

// TestInstallRefusesCgo: a binary whose threads libc starts is refused
// with a message saying how to build one the filter can confine.
func TestInstallRefusesCgo(t *testing.T) {
	if !iscgo {
		t.Skip("this test binary does not link cgo (go test -race does)")
	}
	if _, err := Install(Options{Mode: On}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("Install in a cgo binary: %v", err)
	}
}
