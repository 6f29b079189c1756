package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/results"
	"github.com/gokvm/gokvm/vmm"
	"github.com/hashicorp/go-multierror"
)

// Env is the process environment Main works in, so tests can drive it.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals, when not nil, delivers signals; Main subscribes to SIGINT,
	// SIGTERM (stop) and SIGUSR1 (vcpu dump) itself when nil.
	Signals <-chan os.Signal
}

// Main runs gokvm with args (without the program name) and returns its exit
// status.
func Main(args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usageText+exitStatusHelp)
		return machine.ExitUsage
	}
	switch args[0] {
	case "sandbox":
		return sandboxCommand(args[1:], env)
	case "run":
		return runCommand(args[1:], env)
	case "check":
		return checkCommand(args[1:], env)
	case "list", "pause", "resume", "stop", "debug", "wait", "console":
		return controlCommand(args[0], args[1:], env)
	case "snapshot":
		return snapshotCommand(args[1:], env)
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "gokvm %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	fmt.Fprintf(env.Stderr, "gokvm: unknown command %q (want run, sandbox, check, list, pause, resume, stop, snapshot, debug, wait, console, version or help)\n", args[0])
	return machine.ExitUsage
}

// runOptions are gokvm run's parsed flags: the VM spec and what the
// command line does around it.
type runOptions struct {
	spec        machine.Spec
	dumpDTB     string
	printConfig bool
	stats       bool

	// consoleLog is --console-log FILE: a copy of the guest console.
	consoleLog string

	// name is --name: the VM's control socket; detach is --detach.
	name   string
	detach bool

	// restore is --restore FILE: the machine comes from a saved state.
	restore string

	// results is --results FILE in resultsFormat (--results-format; by
	// the extension when empty); bisect is --bisect-status; symbols is
	// --symbols FILE.
	results, resultsFormat string
	bisect                 bool
	symbols                string

	// noInfo is --loglevel error or warning: kvmtool's Info line at the
	// end is left out. notes are lines for stderr about the accepted
	// kvmtool options given.
	noInfo bool
	notes  []string
}

// debugFlag is kvmtool's --debug, its old spelling of --loglevel debug:
// whichever of the two comes last counts, as in kvmtool.
type debugFlag struct{ level *string }

func (d debugFlag) String() string   { return "" }
func (d debugFlag) IsBoolFlag() bool { return true }
func (d debugFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err == nil && on {
		*d.level = "debug"
	}
	return err
}

// setLogLevel reads kvmtool's --loglevel.
func (o *runOptions) setLogLevel(level string) error {
	switch level {
	case "", "info", "debug":
	case "error", "warning":
		o.noInfo = true
	default:
		return vmm.Configf("--loglevel %q: want error, warning, info or debug", level)
	}
	return nil
}

// restoreFlags are the run flags that may go with --restore: how the
// restored machine runs, not what it is (that is the saved machine's),
// and where its disks' images and NICs' taps are (-d, -n: each given
// again, by position; machine.Saved.RestoreSpec refuses any other
// change).
var restoreFlags = map[string]bool{
	"restore": true, "timeout": true, "seccomp": true, "kvm-device": true, "dev": true, "name": true, "detach": true,
	"loglevel": true, "debug": true,
	"stats": true, "console-log": true, "print-config": true,
	"results": true, "results-format": true, "bisect-status": true, "symbols": true,
	"d": true, "disk": true, "n": true, "network": true,
}

// listFlag collects a repeatable flag (-d, -n) in order.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// runFlags is gokvm run's flag set and where its values go.
type runFlags struct {
	fs                  *flag.FlagSet
	o                   *runOptions
	f                   machine.Spec
	config              string
	disks, nics, shares listFlag
	timeout             time.Duration
	loglevel            string
	lkvm                lkvmState
}

// newRunFlags defines gokvm run's flags: gokvm's own, which include
// kvmtool's implemented options, and kvmtool's accepted and refused ones
// (lkvmopts.go).
func newRunFlags() *runFlags {
	r := &runFlags{o: &runOptions{}, fs: flag.NewFlagSet("gokvm run", flag.ContinueOnError)}
	fs, f, o := r.fs, &r.f, r.o
	fs.SetOutput(io.Discard)
	str := func(p *string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, "", "")
		}
	}
	str(&f.Kernel, "k", "kernel")
	str(&f.Firmware, "f", "firmware")
	str(&f.FirmwareAddress, "firmware-address")
	str(&f.Flash, "F", "flash")
	str(&f.Initrd, "i", "initrd")
	str(&f.Cmdline, "p", "params")
	str(&f.Memory, "m", "mem")
	str(&f.IRQChip, "irqchip")
	str(&f.KVMDevice, "kvm-device", "dev")
	str(&f.Transport, "virtio-transport")
	str(&f.VcpuAffinity, "vcpu-affinity")
	str(&f.Seccomp, "seccomp")
	str(&f.Console, "console")
	fs.BoolVar(&f.RNG, "rng", false, "")
	fs.BoolVar(&f.PMU, "pmu", false, "")
	fs.BoolVar(&f.DisableSVE, "disable-sve", false, "")
	fs.IntVar(&f.SVEMaxVL, "sve-max-vl", 0, "")
	fs.BoolVar(&f.DisablePtrAuth, "disable-ptrauth", false, "")
	fs.Uint64Var(&f.VsockCID, "vsock", 0, "")
	str(&o.dumpDTB, "dump-dtb")
	str(&o.consoleLog, "console-log")
	str(&r.config, "config")
	str(&o.name, "name")
	str(&o.restore, "restore")
	str(&o.results, "results")
	str(&o.resultsFormat, "results-format")
	str(&o.symbols, "symbols")
	str(&r.loglevel, "loglevel")
	fs.Var(debugFlag{&r.loglevel}, "debug", "")
	fs.BoolVar(&o.bisect, "bisect-status", false, "")
	fs.BoolVar(&o.detach, "detach", false, "")
	fs.IntVar(&f.CPUs, "c", 0, "")
	fs.IntVar(&f.CPUs, "cpus", 0, "")
	fs.DurationVar(&r.timeout, "timeout", 0, "")
	fs.BoolVar(&o.stats, "stats", false, "")
	fs.BoolVar(&o.printConfig, "print-config", false, "")
	fs.BoolVar(&f.AArch32, "aarch32", false, "")
	fs.Var(&r.disks, "d", "")
	fs.Var(&r.disks, "disk", "")
	fs.Var(&r.nics, "n", "")
	fs.Var(&r.nics, "network", "")
	fs.Var(&r.shares, "9p", "")
	defineLkvmFlags(fs, &r.lkvm)
	return r
}

// lookup is a flagLookup over the flag set. kvmtool's refused options
// take the value kvmtool gives them, so that a command line is split
// where kvmtool splits it.
func (r *runFlags) lookup(name string) (known, takesValue bool) {
	fl := r.fs.Lookup(name)
	if fl == nil {
		return false, false
	}
	if lf, ok := fl.Value.(lkvmFlag); ok {
		return true, lf.opt.arg != ""
	}
	b, isBool := fl.Value.(interface{ IsBoolFlag() bool })
	return true, !isBool || !b.IsBoolFlag()
}

// parse parses args as kvmtool's lkvm run does: options, and a kernel
// image as the first argument that is not an option when -k is not
// given (options may follow it).
func (r *runFlags) parse(args []string) error {
	args = kvmtoolArgs(args, r.lookup)
	for {
		err := r.fs.Parse(args)
		if r.lkvm.refusedOpt != nil {
			return &vmm.ConfigError{Err: r.lkvm.refusal()}
		}
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		if err != nil {
			return vmm.Configf("%v (see gokvm help)", err)
		}
		if r.fs.NArg() == 0 {
			if err := checkLkvmValues(r.fs); err != nil {
				return &vmm.ConfigError{Err: err}
			}
			return nil
		}
		if r.f.Kernel != "" {
			return vmm.Configf("unexpected argument %q (see gokvm help)", r.fs.Arg(0))
		}
		r.fs.Set("kernel", r.fs.Arg(0))
		args = r.fs.Args()[1:]
	}
}

// parseRunFlags turns gokvm run's flags into a spec. With --config FILE the
// file is the starting point and flags given as well override it (a -d or
// -n replaces the file's whole list of disks or NICs).
func parseRunFlags(args []string) (*runOptions, error) {
	r := newRunFlags()
	if err := r.parse(args); err != nil {
		return nil, err
	}
	fs, f, o, timeout := r.fs, r.f, r.o, r.timeout
	disks, nics, shares, config := r.disks, r.nics, r.shares, r.config
	if err := o.setLogLevel(r.loglevel); err != nil {
		return nil, err
	}
	o.notes = r.lkvm.notes()
	if o.name != "" {
		if err := control.CheckName(o.name); err != nil {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("--name: %w", err)}
		}
	}
	if timeout < 0 {
		return nil, vmm.Configf("--timeout %v is negative", timeout)
	}
	if err := o.checkCIFlags(); err != nil {
		return nil, err
	}
	if o.restore != "" {
		var bad string
		fs.Visit(func(fl *flag.Flag) {
			if _, lkvm := fl.Value.(lkvmFlag); !restoreFlags[fl.Name] && !lkvm && bad == "" {
				bad = fl.Name
			}
		})
		if bad != "" {
			name := "--" + bad
			if len(bad) == 1 {
				name = "-" + bad
			}
			return nil, vmm.Configf("--restore: %s cannot be given: the restored machine is the saved one (only --timeout, --seccomp, --kvm-device, --name, --detach, --stats, --console-log, --results, --results-format, --bisect-status, --symbols, and -d and -n for its disks' images and NICs' taps and hostfwd rules go with it)", name)
		}
		o.spec = machine.Spec{Seccomp: f.Seccomp, KVMDevice: f.KVMDevice}
		if timeout > 0 {
			o.spec.Timeout = timeout.String()
		}
		// Only the lists given: a list left out is the saved one.
		var err error
		if len(disks) > 0 {
			o.spec.Disks, err = parseList(disks, machine.ParseDisk)
		}
		if err == nil && len(nics) > 0 {
			o.spec.NICs, err = parseList(nics, machine.ParseNIC)
		}
		if err != nil {
			return nil, &vmm.ConfigError{Err: err}
		}
		return o, nil
	}
	if config != "" {
		file, err := os.Open(config)
		if err != nil {
			return nil, &vmm.ConfigError{Err: fmt.Errorf("--config: %w", err)}
		}
		o.spec, err = machine.ParseJSON(config, file)
		file.Close()
		if err != nil {
			return nil, err
		}
	}
	// Flags given override the file, field by field.
	var err error
	fs.Visit(func(fl *flag.Flag) {
		if err != nil {
			return
		}
		switch fl.Name {
		case "k", "kernel":
			o.spec.Kernel = f.Kernel
		case "f", "firmware":
			o.spec.Firmware = f.Firmware
		case "firmware-address":
			o.spec.FirmwareAddress = f.FirmwareAddress
		case "F", "flash":
			o.spec.Flash = f.Flash
		case "i", "initrd":
			o.spec.Initrd = f.Initrd
		case "p", "params":
			o.spec.Cmdline = f.Cmdline
		case "m", "mem":
			o.spec.Memory = f.Memory
		case "irqchip":
			o.spec.IRQChip = f.IRQChip
		case "kvm-device", "dev":
			o.spec.KVMDevice = f.KVMDevice
		case "virtio-transport":
			o.spec.Transport = f.Transport
		case "c", "cpus":
			o.spec.CPUs = f.CPUs
			if f.CPUs < 1 {
				err = vmm.Configf("-c %d: a guest needs at least 1 vcpu", f.CPUs)
			}
		case "timeout":
			o.spec.Timeout = timeout.String()
		case "aarch32":
			o.spec.AArch32 = f.AArch32
		case "pmu":
			o.spec.PMU = f.PMU
		case "disable-sve":
			o.spec.DisableSVE = f.DisableSVE
		case "sve-max-vl":
			o.spec.SVEMaxVL = f.SVEMaxVL
			if f.SVEMaxVL == 0 {
				err = fmt.Errorf("--sve-max-vl 0: want a multiple of 128 from 128 to 2048")
			}
		case "disable-ptrauth":
			o.spec.DisablePtrAuth = f.DisablePtrAuth
		case "seccomp":
			o.spec.Seccomp = f.Seccomp
		case "console":
			o.spec.Console = f.Console
			err = checkConsoleFlag(f.Console)
		case "rng":
			o.spec.RNG = f.RNG
		case "vcpu-affinity":
			o.spec.VcpuAffinity = f.VcpuAffinity
			if f.VcpuAffinity == "" {
				err = fmt.Errorf("--vcpu-affinity: an empty CPU list")
			}
		case "vsock":
			o.spec.VsockCID = f.VsockCID
			if f.VsockCID == 0 {
				err = fmt.Errorf("--vsock 0: a guest's CID is from 3 to 4294967294")
			}
		case "d", "disk":
			o.spec.Disks, err = parseList(disks, machine.ParseDisk)
		case "n", "network":
			o.spec.NICs, err = parseList(nics, machine.ParseNIC)
		case "9p":
			o.spec.Shares, err = parseList(shares, machine.ParseShare)
		}
	})
	if err != nil {
		return nil, &vmm.ConfigError{Err: err}
	}
	o.spec = o.spec.WithDefaults()
	if err := o.spec.Check(); err != nil {
		return nil, err
	}
	return o, nil
}

// parseList parses each value of a repeated flag.
func parseList[T any](values []string, parse func(string) (T, error)) ([]T, error) {
	out := make([]T, 0, len(values))
	for _, v := range values {
		t, err := parse(v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func runCommand(args []string, env Env) (status int) {
	start := time.Now()
	logger := log.New(env.Stderr, "gokvm: ", 0)
	o, err := parseRunFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	if err != nil {
		logger.Print(errorLine(err))
		return bisectSkipOr(args, machine.ErrorStatus(err))
	}
	if !isDetachedChild() { // the one that started it said them
		for _, n := range o.notes {
			logger.Print(n)
		}
	}
	var saved *machine.Saved
	if o.restore != "" {
		if saved, err = machine.OpenSaved(o.restore); err != nil {
			logger.Print(errorLine(err))
			return bisectSkipOr(args, machine.ErrorStatus(err))
		}
		if o.spec, err = saved.RestoreSpec(o.spec); err != nil {
			saved.Close()
			logger.Print(errorLine(err))
			return bisectSkipOr(args, machine.ErrorStatus(err))
		}
	}
	if o.printConfig {
		env.Stdout.Write(o.spec.JSON())
		return 0
	}
	if o.detach && !isDetachedChild() {
		if saved != nil {
			saved.Close() // the detached child opens it again
		}
		return detachRun(args, o, env)
	}
	// From here on, how the run ends goes into --results and
	// --bisect-status's status, a failure to start too (Finish).
	rec, err := o.recorder(start)
	if err != nil {
		if saved != nil {
			saved.Close()
		}
		logger.Print(errorLine(err))
		return bisectSkipOr(args, machine.ErrorStatus(err))
	}
	// With --name, the control socket; detached, the console hub is the
	// guest's console and the log goes to it once the guest runs.
	ctl, err := startControl(o, start, &env, logger)
	if err != nil {
		logger.Print(errorLine(err))
		return rec.Finish(machine.RunEnd{Err: err}, controlErrorStatus(err), machine.ExitFailure, logger)
	}
	outcomeText := "failed to start"
	if ctl != nil {
		logger.SetOutput(ctl.logOut)
		// Registered before the machine's Close, so it runs after it:
		// wait and stop are answered once the disks are flushed.
		defer func() { ctl.finish(status, outcomeText) }()
	}
	// Registered after the control socket's finish, so it runs before
	// it: gokvm wait returns once the results file is written.
	var end machine.RunEnd
	defer func() { status = rec.Finish(end, status, machine.ExitFailure, logger) }()

	console := newConsole(env.Stdin, env.Stdout)
	guestOut := env.Stdout
	if o.consoleLog != "" {
		f, err := os.Create(o.consoleLog)
		if err != nil {
			end.Err = fmt.Errorf("--console-log: %w", err)
			logger.Print(end.Err)
			return machine.ExitFailure
		}
		defer f.Close()
		guestOut = teeWriter{env.Stdout, f}
	}
	stopProfile, profileCalls := startProfile(env.Stderr)
	defer stopProfile()
	// kvmtool's last line where kvmtool prints it, for the harnesses
	// that read it; registered before the machine's Close, so it runs
	// after it: a failed flush is no normal end.
	var sessionEnded bool
	defer func() {
		if sessionEnded && status != machine.ExitFailure && !o.noInfo {
			fmt.Fprintln(logger.Writer(), kvmtoolEndedNormally)
		}
	}()
	m, err := machine.Build(o.spec, machine.Options{
		Stdout:      guestOut,
		Stdin:       console.input(),
		Log:         logger,
		Start:       start,
		NoRNGSeed:   o.dumpDTB != "",
		SystemCalls: append(profileCalls, ctl.systemCalls()...),
		Stats:       o.stats,
		Restore:     saved,
		// gokvm's threads are all the VM's.
		BatchHelperThreads: true,
		Recorder:           rec,
		Symbols:            o.symbols,
	})
	if err != nil {
		end.Err = err
		logger.Print(errorLine(err))
		if line := kvmtoolFatal(err); line != "" {
			fmt.Fprintln(logger.Writer(), line)
		}
		return machine.ErrorStatus(err)
	}
	defer func() {
		// Close flushes the disks: if that fails, what the guest wrote
		// may not be on disk, and gokvm must not report success.
		if err := closeTimed(m.Close, o.stats, logger); err != nil {
			logger.Printf("closing the machine: %s", errorLine(err))
			status = machine.ExitFailure
		}
	}()
	if o.dumpDTB != "" {
		if err := os.WriteFile(o.dumpDTB, m.DeviceTree(), 0o644); err != nil {
			logger.Printf("--dump-dtb: %v", err)
			return machine.ExitFailure
		}
		return 0
	}

	sigs, release := runSignals(env)
	defer release()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ctl.running(ctx, m, stop, guestOut, logger)
	watchRun(ctx, sigs, console.escaped(), m, logger, func(os.Signal) {}, stop)
	// A console reader that goes away (gokvm ... | head) must not kill
	// gokvm before it flushes the guest's disks: the UART drops the bytes.
	signal.Ignore(syscall.SIGPIPE)
	restore := console.makeRaw()
	outcome, err := m.Run(ctx)
	end = machine.RunEnd{Outcome: outcome, Err: err}
	sessionEnded = err == nil && kvmtoolSessionEnded(outcome, isClosed(console.escaped()))
	ctl.ended()
	restore()
	outcomeText = outcome.String()
	if o.stats {
		logStats(logger, m, goMemory())
	}
	if err != nil {
		logger.Print(errorLine(err))
		return machine.ExitFailure
	}
	if outcome != vmm.OutcomePowerOff {
		logger.Printf("guest %s", outcome)
	}
	return machine.ExitStatus(outcome)
}

// checkCIFlags checks --results, --results-format and --bisect-status
// as given.
func (o *runOptions) checkCIFlags() error {
	if o.resultsFormat != "" && o.results == "" {
		return vmm.Configf("--results-format %s: give --results FILE too", o.resultsFormat)
	}
	if o.results != "" {
		if _, err := results.FormatFor(o.results, o.resultsFormat); err != nil {
			return &vmm.ConfigError{Err: fmt.Errorf("--results: %w", err)}
		}
	}
	if o.bisect && o.detach {
		return vmm.Configf("--bisect-status and --detach: the status git bisect run reads is the run's, in the foreground")
	}
	return nil
}

// recorder is the run's machine.Recorder for --results and
// --bisect-status; nil without either, and for --dump-dtb, which runs
// nothing.
func (o *runOptions) recorder(start time.Time) (*machine.Recorder, error) {
	if o.results == "" && !o.bisect || o.dumpDTB != "" {
		return nil, nil
	}
	return machine.NewRecorder(machine.RecorderOptions{
		Path: o.results, Format: o.resultsFormat, Name: o.name, Bisect: o.bisect, Start: start,
	})
}

// bisectSkipOr is the status of a run that failed before its guest could
// run: status, or with --bisect-status machine.BisectSkip. It looks for
// the flag in args itself, since they may not have parsed.
func bisectSkipOr(args []string, status int) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "bisect-status" {
			continue
		}
		if on, err := strconv.ParseBool(value); !hasValue || err == nil && on {
			return machine.BisectSkip
		}
	}
	return status
}

// errorLine flattens an error into one line for the log; collected errors
// are joined with "; ".
func errorLine(err error) string {
	if me, ok := err.(*multierror.Error); ok && len(me.Errors) > 0 {
		parts := make([]string, len(me.Errors))
		for i, e := range me.Errors {
			parts[i] = errorLine(e)
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
