package guestinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// failure is a reason the command could not run, with its status.
type failure struct {
	status int
	msg    string
}

func (f *failure) Error() string { return f.msg }

func failf(status int, format string, args ...any) *failure {
	return &failure{status: status, msg: fmt.Sprintf(format, args...)}
}

// Main is the sandbox's init. It never returns: the guest powers off.
func Main() {
	start := time.Now()
	logf := func(format string, args ...any) {
		// The console (ttyS0): what --console-log keeps.
		fmt.Printf("gokvm-sandbox: "+format+"\n", args...)
	}
	status, msg := 0, ""
	dev, err := run(logf)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			status, msg = f.status, f.msg
		} else {
			status, msg = StatusFailed, err.Error()
		}
	} else {
		status = dev.cmdStatus
	}
	if msg != "" {
		logf("%s (status %d)", msg, status)
	}
	switch {
	case !timings:
	case !commandAt.IsZero():
		// A restored guest's init started before the save, so the time
		// since the command is what counts. One line: each character
		// on the console is an exit or two.
		logf("status %d %v after its command was given (shares mounted after %v; kernel uptime %s)", status,
			time.Since(commandAt).Round(time.Millisecond), sharesAfter.Round(time.Millisecond), uptime())
	default:
		logf("status %d after %v in the init (kernel uptime %s)", status, time.Since(start).Round(time.Millisecond), uptime())
	}
	// gokvm ends the machine once it has the status: the console's
	// lines leave the UART and the filesystems are synced first.
	unix.IoctlSetInt(1, unix.TCSBRK, 1)
	unix.Sync()
	if dev.exit != nil {
		dev.exit.finish(status, msg)
	} else {
		logf("no status device: gokvm sees a guest that powered off without a status")
	}
	powerOff()
}

// uptime is the kernel's uptime, from /proc/uptime.
func uptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0] + "s"
}

func powerOff() {
	for {
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		time.Sleep(time.Second)
	}
}

// commandAt is when a warm init was given its command (zero otherwise),
// sharesAfter how long after that the shares were mounted; timings is
// the configuration's Timings, the command's own for a warm init.
var (
	commandAt   time.Time
	sharesAfter time.Duration
	timings     bool
)

// state is what run set up, for Main to report with.
type state struct {
	exit      *exitDevice
	cmdStatus int
}

func run(logf func(string, ...any)) (st state, err error) {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && err != unix.EBUSY {
			return st, failf(StatusFailed, "mounting %s: %v", m.dst, err)
		}
	}
	if st.exit, err = openExitDevice(); err != nil {
		return st, failf(StatusFailed, "the status device: %v", err)
	}
	b, err := os.ReadFile(ConfigPath)
	if err != nil {
		return st, failf(StatusFailed, "%v", err)
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return st, failf(StatusFailed, "%s: %v", ConfigPath, err)
	}
	if len(cfg.Command) == 0 && !cfg.Warm {
		return st, failf(StatusFailed, "no command given")
	}
	timings = cfg.Timings
	t0 := time.Now()
	for _, m := range cfg.Modules {
		if err := loadModule(m); err != nil {
			return st, err
		}
	}
	if err := checkKernel(len(cfg.Modules) > 0); err != nil {
		return st, err
	}
	tModules := time.Since(t0)
	tty, err := openStdioTTY()
	if err != nil {
		return st, failf(StatusFailed, "the command's serial port: %v", err)
	}
	if cfg.Warm {
		// Everything up to the command is the same for every command,
		// the host's root mounted with it: gokvm may save the machine
		// from here on, and restore it for the next.
		if err := mountRoot(&cfg); err != nil {
			return st, err
		}
		fillWarmCaches()
		if timings {
			logf("modules %d in %v; root mounted after %v; waiting for a command", len(cfg.Modules), tModules.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
		}
		// The command's configuration says for itself whether the
		// console is read now: omitted, Timings is false.
		cfg.Timings = false
		if err := st.exit.awaitCommand(&cfg); err != nil {
			return st, failf(StatusFailed, "the sandbox's command: %v", err)
		}
		commandAt, timings = time.Now(), cfg.Timings
		if len(cfg.Command) == 0 {
			return st, failf(StatusFailed, "no command given")
		}
		setClock(&cfg)
	} else {
		setClock(&cfg)
		if err := mountRoot(&cfg); err != nil {
			return st, err
		}
	}
	if err := mountShares(&cfg); err != nil {
		return st, err
	}
	if err := os.Chdir(cfg.Dir); err != nil {
		return st, failf(StatusFailed, "the working directory %s is not in the guest (the guest's /tmp is its own): %v", cfg.Dir, errors.Unwrap(err))
	}
	os.Clearenv()
	for _, kv := range cfg.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			os.Setenv(k, v)
		}
	}
	if !commandAt.IsZero() {
		sharesAfter = time.Since(commandAt)
	} else if timings {
		logf("modules %d in %v; root mounted after %v", len(cfg.Modules), tModules.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
	st.cmdStatus, err = runCommand(&cfg, tty, st.exit)
	return st, err
}

// setClock sets the guest's clock from the host's time in cfg: the guest
// has no clock of its own, and files the command writes on shares get
// their times from it.
func setClock(cfg *Config) {
	ns := cfg.Time
	if ns == 0 && cfg.BootTime != 0 {
		var up unix.Timespec
		if unix.ClockGettime(unix.CLOCK_BOOTTIME, &up) == nil {
			ns = cfg.BootTime + up.Nano()
		}
	}
	if ns <= 0 {
		return
	}
	ts := unix.NsecToTimespec(ns)
	unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

// loadModule loads one module file; one already there is fine.
func loadModule(path string) error {
	name := moduleName(path)
	f, err := os.Open(path)
	if err != nil {
		return failf(StatusFailed, "module %s: %v", name, err)
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(int(f.Fd()), "", flags)
	switch {
	case err == nil, err == unix.EEXIST:
		return nil
	case err == unix.ENOEXEC:
		return failf(StatusFailed, "module %s: %v (--modules is for another kernel version?)", name, err)
	}
	return failf(StatusFailed, "module %s: %v", name, err)
}

// moduleName is a module's name from its file name.
func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	if i := strings.IndexByte(base, '-'); i >= 0 && i < len(base)-1 && strings.Trim(base[:i], "0123456789") == "" {
		base = base[i+1:] // the load-order prefix
	}
	return base
}

// checkKernel says which of what the sandbox needs the kernel lacks, now
// that the modules are loaded.
func checkKernel(hadModules bool) error {
	fss, _ := os.ReadFile("/proc/filesystems")
	hasFS := func(name string) bool {
		for _, line := range strings.Split(string(fss), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
				return true
			}
		}
		return false
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	var missing []string
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"virtio_mmio or virtio_pci (a virtio transport)", exists("/sys/bus/platform/drivers/virtio-mmio") || exists("/sys/bus/pci/drivers/virtio-pci")},
		{"9pnet_virtio (9p over virtio)", exists("/sys/bus/virtio/drivers/9pnet_virtio")},
		{"9p (the 9p filesystem)", hasFS("9p")},
		{"overlay (overlayfs)", hasFS("overlay")},
	} {
		if !c.ok {
			missing = append(missing, c.name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	hint := "give its modules with --modules /lib/modules/VERSION"
	if hadModules {
		hint = "the modules from --modules did not provide it"
	}
	return failf(StatusFailed, "the guest kernel lacks %s: not built in (%s)", strings.Join(missing, ", "), hint)
}

// Where the init builds the command's root.
const (
	lowerDir = "/sandbox/lower" // the host's root over 9p, read-only
	rwDir    = "/sandbox/rw"    // the tmpfs holding the overlay's writes
	rootDir  = "/sandbox/root"  // the overlay: the command's /
)

// msize is the 9P message size the guest asks for: the largest Linux's
// virtio transport takes (PAGE_SIZE * (VIRTQUEUE_NUM - 3) with 4 KiB
// pages). Reading the command's binary and its files takes a quarter
// of the round trips Linux's default (128 KiB) would, and each round
// trip is several exits.
const msize = "512000"

func mountRoot(cfg *Config) error {
	for _, d := range []string{lowerDir, rwDir, rootDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return failf(StatusFailed, "%v", err)
		}
	}
	if err := unix.Mount(cfg.RootTag, lowerDir, "9p", unix.MS_RDONLY, "trans=virtio,version=9p2000.L,cache=loose,msize="+msize); err != nil {
		return failf(StatusFailed, "mounting the host's root (9p tag %s): %v", cfg.RootTag, err)
	}
	if err := unix.Mount("tmpfs", rwDir, "tmpfs", 0, "mode=0755"); err != nil {
		return failf(StatusFailed, "mounting the overlay's tmpfs: %v", err)
	}
	for _, d := range []string{rwDir + "/upper", rwDir + "/work"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return failf(StatusFailed, "%v", err)
		}
	}
	opts := "lowerdir=" + lowerDir + ",upperdir=" + rwDir + "/upper,workdir=" + rwDir + "/work"
	if err := unix.Mount("overlay", rootDir, "overlay", 0, opts); err != nil {
		return failf(StatusFailed, "mounting the overlay on the host's root: %v", err)
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp"} {
		target := rootDir + d
		if err := os.MkdirAll(target, 0o755); err != nil {
			return failf(StatusFailed, "%v", err)
		}
		if err := unix.Mount(d, target, "", unix.MS_MOVE, ""); err != nil {
			return failf(StatusFailed, "moving %s into the command's root: %v", d, err)
		}
	}
	os.Mkdir(rootDir+"/dev/pts", 0o755)
	unix.Mount("devpts", rootDir+"/dev/pts", "devpts", 0, "ptmxmode=0666,mode=0620")
	// switch_root: the overlay becomes /.
	if err := os.Chdir(rootDir); err != nil {
		return failf(StatusFailed, "%v", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return failf(StatusFailed, "moving the command's root to /: %v", err)
	}
	if err := unix.Chroot("."); err != nil {
		return failf(StatusFailed, "chroot: %v", err)
	}
	return os.Chdir("/")
}

// mountShares mounts the other shares at their host paths, in the
// command's root (mountRoot made it /), on top of the guest's own /proc,
// /sys, /dev and /tmp, so that a share under /tmp (a CI job's scratch
// directory) is seen.
func mountShares(cfg *Config) error {
	for _, s := range cfg.Shares {
		if err := os.MkdirAll(s.Path, 0o755); err != nil {
			return failf(StatusFailed, "share %s at %s: %v", s.Tag, s.Path, err)
		}
		var flags uintptr
		if s.ReadOnly {
			flags = unix.MS_RDONLY
		}
		if err := unix.Mount(s.Tag, s.Path, "9p", flags, "trans=virtio,version=9p2000.L,cache=mmap,msize="+msize); err != nil {
			return failf(StatusFailed, "mounting share %s at %s: %v", s.Tag, s.Path, err)
		}
	}
	return nil
}

// runCommand runs the command on tty and returns its status: its exit
// status, or 128+N when signal N killed it.
func runCommand(cfg *Config, tty *os.File, exit *exitDevice) (int, error) {
	name := cfg.Command[0]
	path := cfg.Path
	if path == "" {
		var err error
		if path, err = lookCommand(name); err != nil {
			return 0, err
		}
	}
	fd := int(tty.Fd())
	if cfg.Terminal {
		if cfg.Rows > 0 && cfg.Cols > 0 {
			unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: cfg.Rows, Col: cfg.Cols})
		}
	} else if err := makeRaw(fd); err != nil {
		return 0, failf(StatusFailed, "the command's serial port: %v", err)
	}
	stdin := tty
	var inW *os.File
	if !cfg.Terminal {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, failf(StatusFailed, "%v", err)
		}
		stdin, inW = r, w
	}
	attr := &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{stdin, tty, tty},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: cfg.Terminal, Ctty: 0},
	}
	exit.setState(stateReady) // gokvm may send input now
	p, err := os.StartProcess(path, cfg.Command, attr)
	if errors.Is(err, fs.ErrNotExist) && cfg.Path != "" {
		// Gone since gokvm found it on the host: look again.
		if path, err = lookCommand(name); err != nil {
			return 0, err
		}
		p, err = os.StartProcess(path, cfg.Command, attr)
	}
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == unix.ENOENT || errno == unix.ENOTDIR) {
			return 0, failf(StatusNotFound, "%s: no such file or directory", name)
		}
		if errors.As(err, &errno) {
			return 0, failf(StatusNotRunnable, "%s: %v", name, errno)
		}
		return 0, failf(StatusNotRunnable, "%s: %v", name, err)
	}
	exit.setState(stateStarted)
	if inW != nil {
		stdin.Close()
		go relayInput(tty, inW)
	}
	status := waitFor(p.Pid)
	exit.setState(stateExited) // for --stats: the drain and sync follow
	// Everything the command wrote leaves the UART before the guest
	// powers off.
	unix.IoctlSetInt(fd, unix.TCSBRK, 1)
	return status, nil
}

// lookCommand finds the command's file: in PATH unless it has a slash.
func lookCommand(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	p, err := exec.LookPath(name)
	switch {
	case errors.Is(err, exec.ErrDot):
		return "./" + name, nil
	case err != nil:
		return "", failf(StatusNotFound, "%s: command not found", name)
	}
	return p, nil
}

// waitFor reaps children (orphans come to process 1) until pid ends, and
// returns its status as a shell gives it.
func waitFor(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return StatusFailed
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}

// relayInput decodes the framed input from the serial port into the
// command's standard input, which it closes at the input's end.
func relayInput(tty io.Reader, w io.WriteCloser) {
	defer w.Close()
	buf := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	escaped := false
	for {
		n, err := tty.Read(buf)
		out = out[:0]
		for _, b := range buf[:n] {
			switch {
			case escaped && b == InputEOF:
				w.Write(out)
				return
			case escaped:
				out = append(out, b)
				escaped = false
			case b == InputEscape:
				escaped = true
			default:
				out = append(out, b)
			}
		}
		if len(out) > 0 {
			if _, werr := w.Write(out); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// makeRaw puts a tty in raw mode (cfmakeraw): bytes pass unchanged both
// ways and nothing is echoed.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8 | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// RelayInput is relayInput, for tests of the framing.
func RelayInput(r io.Reader, w io.WriteCloser) { relayInput(r, w) }
