// Package sandbox runs one command in a guest kernel and returns its exit
// status: `gokvm sandbox` as a library, for a CI tool or a Go test that
// boots a kernel, runs a command in it and checks its status and output.
//
// The guest boots an initramfs built in memory whose /init is gokvm
// itself (package guestinit), with the kernel modules the sandbox needs
// when the kernel has them as modules. The init mounts the host's root
// (Options.Root) read-only over 9p under a tmpfs overlay, enters the
// working directory, and runs the command on a serial port of its own
// (the guest's second UART; the kernel console is the first, and goes to
// Options.ConsoleLog). The command's status comes back through a status
// device (devices/exitdev), never through its output.
//
//	res, err := sandbox.Run(ctx, sandbox.Options{
//		Spec:    machine.Spec{Kernel: "Image", Timeout: "60s"},
//		Modules: "/lib/modules/6.1.0-50-arm64",
//		Command: []string{"sh", "-c", "make test"},
//		Stdout:  &out,
//	})
//
// The guest's init is the running program when the guest's architecture
// is its own: a program other than gokvm that uses this package must call
// MaybeInit first thing in main (or TestMain), or give Options.Init.
package sandbox

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/devices/exitdev"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox/guestinit"
	"github.com/gokvm/gokvm/vmm"
	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"
)

// RootTag is the 9p tag of the host's root share.
const RootTag = "gokvm-root"

// MaybeInit runs the sandbox's guest init, and never returns, when this
// process is that init (process 1 in a sandbox guest); otherwise it
// returns at once. A program that is its own guest init calls it first.
func MaybeInit() {
	if guestinit.IsSandboxInit() {
		guestinit.Main()
	}
}

// Options describe one sandboxed command.
type Options struct {
	// Spec is the VM: kernel, vcpus, memory, 9p shares (each mounted in
	// the guest at its host path), a timeout (status 124), extra kernel
	// parameters. Its Initrd must be empty: the sandbox builds its own.
	Spec machine.Spec
	// Command is the command and its arguments (required).
	Command []string
	// Root is the host directory that is the guest's root, read-only
	// under a tmpfs overlay (default "/").
	Root string
	// Dir is the command's working directory, a path in Root (default:
	// the current directory).
	Dir string
	// Env is the command's environment (default: PATH and HOME from this
	// process's, and TERM: this process's on a terminal, else dumb).
	Env []string
	// Modules is a /lib/modules/VERSION tree with modules.dep, for a
	// kernel that has virtio-mmio, 9p or overlayfs as modules.
	Modules string
	// Init is the guest's /init: a static gokvm (or a program calling
	// MaybeInit) for the guest's architecture. Default: the running
	// program, when the guest's architecture is its own.
	Init string
	// Stdin is the command's standard input (none when nil).
	Stdin io.Reader
	// Terminal makes the command's standard input, output and error a
	// terminal in the guest (its controlling terminal, cooked mode):
	// for a Stdin that is a terminal in raw mode. Rows and Cols are its
	// size.
	Terminal   bool
	Rows, Cols uint16
	// Stdout receives the command's standard output and error.
	Stdout io.Writer
	// ConsoleLog receives the whole guest console (kernel messages and
	// the init's); when nil the console is discarded and the kernel runs
	// with quiet.
	ConsoleLog io.Writer
	// Log receives gokvm's diagnostics; nil discards them.
	Log *log.Logger
	// Start is when the caller started; now when zero.
	Start time.Time
	// Stats makes the machine's Stats read gokvm's resident memory
	// (machine.Options.Stats, --stats).
	Stats bool
	// BatchHelperThreads puts the process's helper threads on
	// SCHED_BATCH (machine.Options.BatchHelperThreads): for a process
	// that runs virtual machines, as gokvm sandbox does.
	BatchHelperThreads bool
	// Warm is a directory of saved machines (--warm, warm.go): the run
	// restores the one made for this kernel, init, modules and machine,
	// booted and waiting for a command, instead of booting; or boots,
	// saves it there for the next runs, and runs the command.
	Warm string
	// Recorder, when set, reads the kernel console and the command's
	// output (Stdout) into a results document (--results,
	// --bisect-status; machine.Recorder): the kernel then runs without
	// quiet, so that its warnings reach the console. Run records the
	// command's status in it, and a timeout each vcpu's backtrace; the
	// caller calls its Finish.
	Recorder *machine.Recorder
	// Symbols is the guest kernel's System.map or vmlinux
	// (machine.Options.Symbols): a timeout then also prints where each
	// vcpu was, its kernel stack named, to Log.
	Symbols string
}

// Result is how the command ended.
type Result struct {
	// Status is the exit status: the command's own (0-255, 128+N for a
	// signal), or one of the Status constants.
	Status int
	// Outcome is how the VM ended. A guest whose init wrote its final
	// status ends with OutcomePowerOff: the init powers off next, and
	// gokvm stops the machine there rather than wait for the guest
	// kernel's shutdown.
	Outcome vmm.Outcome
	// Started: the command was started in the guest.
	Started bool
	// Message says why, for a status that is not the command's own (a
	// command not found, a kernel gone down).
	Message string
	// ConsoleTail is the end of the guest console, kept for a kernel
	// that went down.
	ConsoleTail string
}

// Sandbox is a built sandbox VM, ready to run.
type Sandbox struct {
	m       *machine.Machine
	exit    *exitdev.Device
	tail    *tailBuffer
	stop    chan struct{}
	once    sync.Once
	timeout time.Duration
	log     *log.Logger
	rec     *machine.Recorder
	// dumpOnTimeout prints the vcpus' places when the timeout passes
	// (with Options.Symbols).
	dumpOnTimeout bool

	// A warm sandbox's init waits for its command (cmd), which Run
	// gives once the machine is restored, or saved into warm.
	cmd      *guestinit.Config
	warm     *warmStart
	restored bool
	// ws records a restored machine's working set (workingset.go).
	ws *wsRecorder
	// stats: --stats, which logs how a restore's prefault went.
	stats bool
}

// Run builds the sandbox, runs the command and returns how it ended. An
// error means status StatusFailed: gokvm or the guest failed before the
// command ran (the error says why).
func Run(ctx context.Context, o Options) (Result, error) {
	s, err := New(o)
	if err != nil {
		return Result{Status: StatusFailed, Message: err.Error()}, err
	}
	res, err := s.Run(ctx)
	if cerr := s.Close(); cerr != nil && err == nil {
		return Result{Status: StatusFailed, Outcome: res.Outcome, Message: cerr.Error()}, cerr
	}
	return res, err
}

// New builds the sandbox VM: the initramfs, the devices, the machine.
func New(o Options) (*Sandbox, error) {
	if len(o.Command) == 0 {
		return nil, vmm.Configf("no command given (gokvm sandbox [flags] -- CMD [ARGS...])")
	}
	if o.Spec.Initrd != "" {
		return nil, vmm.Configf("the sandbox builds its own initramfs: no --initrd")
	}
	if o.Warm != "" && o.Spec.Transport == machine.TransportPCI {
		return nil, vmm.Configf("--warm saves the sandbox's machine, and a virtio-pci machine cannot be saved yet: use --warm with --virtio-transport mmio")
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	// The start-up's steps before the machine is built, for --stats.
	var steps []vmm.StartupStep
	mark := func(name string) { steps = append(steps, vmm.StartupStep{Name: name, After: time.Since(o.Start)}) }
	spec := o.Spec
	var timeout time.Duration
	if spec.Timeout != "" {
		d, err := time.ParseDuration(spec.Timeout)
		if err != nil || d < 0 {
			return nil, vmm.Configf("timeout: %q is not a duration like 90s", spec.Timeout)
		}
		// The sandbox times out through its context: the command's
		// timeout is not a stuck guest, so no vcpu dump.
		timeout, spec.Timeout = d, ""
	}
	root := o.Root
	if root == "" {
		root = "/"
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, vmm.Configf("--root %s: not a directory", root)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("the current directory: %w", err)
		}
	}
	initPath, err := guestInit(o.Init, spec)
	if err != nil {
		return nil, err
	}
	initBin, unmap, err := mapFile(initPath)
	if err != nil {
		return nil, &vmm.ConfigError{Err: fmt.Errorf("--init: %w", err)}
	}
	defer unmap()
	var mods []Module
	if o.Modules != "" {
		if mods, err = ResolveModules(o.Modules, neededModules(spec.Transport)); err != nil {
			return nil, &vmm.ConfigError{Err: err}
		}
	}
	cfg := guestinit.Config{
		Command: o.Command, Dir: dir, Env: o.Env, Terminal: o.Terminal,
		Rows: o.Rows, Cols: o.Cols, RootTag: RootTag, Timings: consoleRead(o),
	}
	if cfg.Env == nil {
		cfg.Env = defaultEnv(o.Terminal)
	}
	if len(cfg.Command) > 0 {
		cfg.Path = hostLookPath(cfg.Command[0], cfg.Env)
	}
	if spec, cfg.Shares, err = withShares(spec, root, dir); err != nil {
		return nil, err
	}
	spec.Cmdline = kernelParams(o, spec)

	s := &Sandbox{exit: exitdev.New(), tail: &tailBuffer{max: 4096}, stop: make(chan struct{}), timeout: timeout, log: o.Log,
		rec: o.Recorder, dumpOnTimeout: o.Symbols != ""}
	if o.Warm != "" {
		// The saved machine serves every command: its initramfs
		// holds none, and the init is given this one by the status
		// device.
		cmd := cfg
		cmd.Modules = nil
		if n := len(cmd.Marshal()) + 32; n > exitdev.MaxCommand { // + the time
			return nil, vmm.Configf("--warm: the command and its environment take %d bytes; a warm sandbox passes at most %d", n, exitdev.MaxCommand)
		}
		s.cmd, cfg = &cmd, guestinit.Config{Modules: cfg.Modules, RootTag: cfg.RootTag, Warm: true, Timings: cfg.Timings}
		mark("init and modules found")
		key, err := warmKey(spec, initPath, mods, o.Modules)
		if err != nil {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("--warm: %w", err)}
		}
		mark("warm key made")
		if s.warm, err = openWarm(o.Warm, key, true, o.Log); err != nil {
			return nil, err
		}
		mark("saved machine opened")
		defer func() {
			if !s.warm.saving() {
				s.warm.close() // the restored machine has mapped its files
			}
		}()
	} else {
		cfg.BootTime = time.Now().UnixNano()
	}
	console := io.Writer(s.tail)
	if o.ConsoleLog != nil {
		console = io.MultiWriter(o.ConsoleLog, s.tail)
	}
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	if o.Recorder != nil {
		// The recorder first: it never fails, and stdout's error still
		// reaches the UART.
		stdout = io.MultiWriter(o.Recorder.CommandOutput(), stdout)
	}
	devs := s.devices(o, stdout)
	mark("sandbox devices made")
	mo := machine.Options{Stdout: console, Log: o.Log, Start: o.Start, Devices: devs, Stats: o.Stats,
		BatchHelperThreads: o.BatchHelperThreads, Recorder: o.Recorder, Symbols: o.Symbols, StartupSteps: steps}
	if s.warm != nil && s.warm.saved != nil {
		mo.Restore = s.warm.saved
		s.loadWorkingSet()
		s.m, err = machine.Build(spec, mo)
		if err == nil {
			s.restored, s.stats = true, o.Stats
			s.prepareWorkingSet()
			return s, nil
		}
		// A machine saved on another host (another GIC), say: boot,
		// and save this host's in its place.
		o.Log.Printf("--warm: booting instead of restoring: %v", err)
		s.warm.close()
		if s.warm, err = openWarm(o.Warm, s.warm.files.key, false, o.Log); err != nil {
			return nil, err
		}
		// The devices above were the failed machine's.
		mo.Restore, s.exit = nil, exitdev.New()
		mo.Devices = s.devices(o, stdout)
	}
	if mo.Initrd, err = buildInitramfs(initBin, &cfg, mods); err != nil {
		return nil, err
	}
	mark("initramfs built")
	mo.StartupSteps = steps
	if s.m, err = machine.Build(spec, mo); err != nil {
		return nil, err
	}
	return s, nil
}

// kernelParams is the guest kernel's command line: its console, a panic
// that resets at once, quiet when nobody reads the console (no
// ConsoleLog, no Recorder), then the spec's.
func kernelParams(o Options, spec machine.Spec) string {
	params := "console=" + kernelConsole(spec.Console) + " panic=-1"
	if !consoleRead(o) {
		params += " quiet"
	}
	return strings.TrimSpace(params + " " + spec.Cmdline)
}

// consoleRead: something reads the guest's console (a console log or a
// results recorder), so the kernel and the init say more on it.
func consoleRead(o Options) bool { return o.ConsoleLog != nil || o.Recorder != nil }

// devices are the sandbox's own devices: the command's UART and the
// status device.
func (s *Sandbox) devices(o Options, stdout io.Writer) []vmm.DeviceSpec {
	in := &gatedInput{ready: s.exit.Ready(), stop: s.stop, r: o.Stdin, framed: !o.Terminal}
	var stdin io.Reader = in
	if o.Terminal && o.Stdin == nil {
		stdin = nil
	}
	return []vmm.DeviceSpec{
		uart.PlainSpec("uart1 (sandbox stdio)", stdout, stdin, func(n vmm.DeviceNode) { n.Flag(guestinit.StdioProperty) }),
		s.exit.Spec("sandbox-exit"),
	}
}

// Machine is the sandbox's VM (for DumpVcpus, Stats).
func (s *Sandbox) Machine() *machine.Machine { return s.m }

// Timeline is when the guest init's steps reached the status device in
// this run (exitdev.Timeline): for a warm run, from the command given to
// its status.
func (s *Sandbox) Timeline() exitdev.Timeline { return s.exit.Timeline() }

// Close closes the VM.
func (s *Sandbox) Close() error {
	s.once.Do(func() { close(s.stop) })
	s.ws.close() // when Run never took it
	return s.m.Close()
}

// Run boots the guest and runs the command. ctx ending stops it (status
// StatusSignalBase+SIGINT: the caller knows better which signal).
func (s *Sandbox) Run(ctx context.Context) (Result, error) {
	if s.timeout > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		t := time.AfterFunc(s.timeout, func() {
			// The command's timeout is not a stuck guest: the vcpus'
			// places go to the log only when asked for (Symbols),
			// and to the recorder's hangs.
			var w io.Writer
			if s.dumpOnTimeout {
				s.log.Printf("timeout: the command ran for %v", s.timeout)
				w = machine.LogWriter{L: s.log}
			}
			s.m.DiagnoseHang(w)
			cancel(context.DeadlineExceeded)
		})
		defer t.Stop()
	}
	warmDone := s.startWarm()
	wsDone := s.recordWorkingSet()
	ctx, finished := s.endAtStatus(ctx)
	outcome, err := s.m.Run(ctx)
	if outcome == vmm.OutcomeStopped && finished() {
		outcome = vmm.OutcomePowerOff
	}
	if s.stats {
		s.logPrefault()
	}
	s.once.Do(func() { close(s.stop) })
	<-warmDone // a save in progress writes guest RAM: before Close unmaps it
	<-wsDone   // so does reading the working set
	rep := s.exit.Report()
	res := Result{Outcome: outcome, Started: rep.Started}
	if s.rec != nil && rep.OK && err == nil && outcome != vmm.OutcomeTimeout && outcome != vmm.OutcomeStopped {
		s.rec.SetCommand(rep.Status, rep.Started)
	}
	if err != nil {
		res.Status, res.Message = StatusFailed, err.Error()
		return res, err
	}
	switch {
	case outcome == vmm.OutcomeTimeout:
		res.Status, res.Message = StatusTimeout, fmt.Sprintf("the timeout (%v) passed", s.timeout)
	case outcome == vmm.OutcomeStopped:
		res.Status, res.Message = StatusSignalBase+int(syscall.SIGINT), "stopped"
	case rep.OK:
		res.Status, res.Message = rep.Status, rep.Message
		if outcome != vmm.OutcomePowerOff {
			res.Message = strings.TrimSpace(res.Message + fmt.Sprintf(" (the guest then %s instead of powering off)", outcome))
		}
		if res.Status == StatusFailed && !rep.Started {
			if res.Message == "" {
				res.Message = "the guest failed before the command ran"
			}
			return res, errors.New(res.Message)
		}
	case rep.Started:
		res.Status = StatusKernelDown
		res.Message = fmt.Sprintf("the guest kernel went down (%s) while the command ran", outcome)
		res.ConsoleTail = s.tail.String()
	default:
		res.Status = StatusFailed
		res.Message = fmt.Sprintf("the guest %s before the command ran", outcome)
		res.ConsoleTail = s.tail.String()
		return res, errors.New(res.Message)
	}
	return res, nil
}

// errStatusWritten ends a sandbox's run once its init wrote the final
// status.
var errStatusWritten = errors.New("the sandbox's init wrote its final status")

// endAtStatus returns a ctx for the machine's run that ends once the
// init writes its final status, and a func that says, after the run,
// whether that is how it ended. The init writes the status as the last
// thing before it powers off: after the command's output left its UART
// and the guest's filesystems were synced, so what the command wrote is
// on the host's shares and disks. Waiting for the guest kernel's own
// power-off after that would add its shutdown to every command's time
// (issue #19: a warm `sandbox -- true` is mostly such fixed costs).
func (s *Sandbox) endAtStatus(ctx context.Context) (context.Context, func() bool) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.exit.Reported():
			cancel(errStatusWritten)
		case <-s.stop:
			cancel(nil)
		}
	}()
	return ctx, func() bool { return context.Cause(ctx) == errStatusWritten }
}

// startWarm gives a warm sandbox's init its command: at once to a
// restored machine, else once the init says it is ready for one, after
// saving the machine there if this run saves it. The channel is closed
// when that is done (at once for a sandbox that is not warm).
func (s *Sandbox) startWarm() <-chan struct{} {
	done := make(chan struct{})
	if s.cmd == nil {
		close(done)
		return done
	}
	if s.restored {
		s.giveCommand()
		close(done)
		return done
	}
	go func() {
		defer close(done)
		select {
		case <-s.exit.Warm():
		case <-s.stop:
			return
		}
		if s.warm.saving() {
			t := time.Now()
			w := s.warm
			if err := s.m.Snapshot(w.state, w.ram, w.files.ramName(), false); err != nil {
				s.log.Printf("--warm: saving the booted machine: %v", err)
			} else {
				s.log.Printf("--warm: saved the booted machine in %v (%s)", time.Since(t).Round(time.Millisecond), w.files.state())
			}
			w.close()
		}
		s.giveCommand()
	}()
	return done
}

// giveCommand gives the waiting init its command, with the time now.
func (s *Sandbox) giveCommand() {
	cmd := *s.cmd
	cmd.Time = time.Now().UnixNano()
	if err := s.exit.SetCommand(cmd.Marshal()); err != nil {
		// The init waits on: the run ends by its timeout or a signal.
		s.log.Printf("the sandbox's command: %v", err)
	}
}

// guestInit picks the guest's /init: the given file, or the running
// program when the guest runs its architecture. The file must be a static
// ELF executable for the guest.
func guestInit(given string, spec machine.Spec) (string, error) {
	guestArch := "arm64"
	if spec.AArch32 || runtime.GOARCH == "arm" {
		guestArch = "arm"
	}
	path := given
	if path == "" {
		if runtime.GOARCH != guestArch {
			return "", vmm.Configf("the guest runs %s and this gokvm is %s: give --init FILE, a gokvm built for the guest (bin/gokvm-%s)", guestArch, runtime.GOARCH, guestArch)
		}
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("finding the running gokvm for the guest's /init: %w", err)
		}
		return exe, nil
	}
	f, err := elf.Open(path)
	if err != nil {
		return "", vmm.Configf("--init %s: not an ELF executable (%v)", path, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "arm": elf.EM_ARM}[guestArch]
	if f.Machine != want {
		return "", vmm.Configf("--init %s: a %v program; the guest needs %v (%s)", path, f.Machine, want, guestArch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", vmm.Configf("--init %s: dynamically linked; the guest's initramfs has no libraries (build it with CGO_ENABLED=0)", path)
		}
	}
	return path, nil
}

func defaultEnv(terminal bool) []string {
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	term := "dumb"
	if terminal {
		term = get("TERM", "vt100")
	}
	return []string{
		"PATH=" + get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
		"HOME=" + get("HOME", "/"),
		"TERM=" + term,
	}
}

// buildInitramfs is the guest's initramfs: /init, its configuration and
// the modules, numbered in load order.
func buildInitramfs(initBin []byte, cfg *guestinit.Config, mods []Module) ([]byte, error) {
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.Directory("sandbox", 0o755),
		cpio.Directory("modules", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticRecord(initBin, cpio.Info{Name: "init", Mode: cpio.S_IFREG | 0o755}),
	}
	for i, m := range mods {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("module %s: %w", m.Name, err)}
		}
		name := fmt.Sprintf("modules/%02d-%s", i, filepath.Base(m.Path))
		cfg.Modules = append(cfg.Modules, "/"+name)
		recs = append(recs, cpio.StaticRecord(b, cpio.Info{Name: name, Mode: cpio.S_IFREG | 0o644}))
	}
	recs = append(recs, cpio.StaticRecord(cfg.Marshal(), cpio.Info{Name: strings.TrimPrefix(guestinit.ConfigPath, "/"), Mode: cpio.S_IFREG | 0o644}))
	// One buffer of the archive's size, written once: fresh memory is
	// what costs here (7 MiB, most of it /init).
	size := 512
	for i := range recs {
		recs[i] = cpio.MakeReproducible(recs[i])
		size += 110 + len(recs[i].Name) + 8 + int(recs[i].FileSize) + 4
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	w := cpio.Newc.Writer(buf)
	if err := cpio.WriteRecords(w, recs); err != nil {
		return nil, err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mapFile maps a file read-only: the guest's /init is copied once, from
// the page cache into the initramfs.
func mapFile(path string) ([]byte, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil, nil, fmt.Errorf("%s: not a program", path)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, func() { unix.Munmap(b) }, nil
}

// gatedInput holds the command's input back until the guest is ready for
// it (bytes sent to a serial port nobody has opened are lost), and when
// the input is not a terminal frames it so its end reaches the guest.
type gatedInput struct {
	ready, stop <-chan struct{}
	r           io.Reader
	framed      bool
	pending     []byte
	ended       bool
	buf         [2048]byte
}

func (g *gatedInput) Read(p []byte) (int, error) {
	select {
	case <-g.ready:
	case <-g.stop:
		return 0, io.EOF
	}
	if !g.framed {
		if g.r == nil {
			return 0, io.EOF
		}
		return g.r.Read(p)
	}
	for len(g.pending) == 0 {
		if g.ended {
			return 0, io.EOF
		}
		var n int
		var err error
		if g.r != nil {
			n, err = g.r.Read(g.buf[:min(len(g.buf), max(len(p)/2, 1))])
		} else {
			err = io.EOF
		}
		for _, b := range g.buf[:n] {
			if b == guestinit.InputEscape {
				g.pending = append(g.pending, b)
			}
			g.pending = append(g.pending, b)
		}
		if err != nil {
			g.pending = append(g.pending, guestinit.InputEscape, guestinit.InputEOF)
			g.ended = true
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return strings.ToValidUTF8(string(b), "?")
}
