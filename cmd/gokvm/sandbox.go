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
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/sandbox"
	"github.com/gokvm/gokvm/vmm"
	"golang.org/x/sys/unix"
)

// sandboxOptions are gokvm sandbox's own flags, beside run's.
type sandboxOptions struct {
	root, modules, init, warm string
	run                       *runOptions
	command                   []string
}

// sandboxFlags are the flags gokvm sandbox adds to run's, each taking a
// value.
var sandboxFlags = []string{"root", "modules", "init", "warm"}

// parseSandboxFlags splits `[flags] -- CMD [ARGS...]`: the sandbox's own
// flags are taken out, and the rest are run's.
func parseSandboxFlags(args []string) (*sandboxOptions, error) {
	o := &sandboxOptions{}
	sep := -1
	for i, a := range args {
		if a == "--" {
			sep = i
			break
		}
	}
	if sep < 0 {
		for _, a := range args {
			if a == "-h" || a == "--help" || a == "-help" {
				return nil, flag.ErrHelp
			}
		}
		return nil, vmm.Configf("no command: gokvm sandbox [flags] -- CMD [ARGS...]")
	}
	o.command = args[sep+1:]
	if len(o.command) == 0 {
		return nil, vmm.Configf("no command after --: gokvm sandbox [flags] -- CMD [ARGS...]")
	}
	var rest []string
	runFlags := newRunFlags()
	flags := kvmtoolArgs(args[:sep], runFlags.lookup)
	for i := 0; i < len(flags); i++ {
		a := flags[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			return nil, vmm.Configf("unexpected argument %q before -- (see gokvm help)", a)
		}
		var dst *string
		switch name {
		case "root":
			dst = &o.root
		case "modules":
			dst = &o.modules
		case "init":
			dst = &o.init
		case "warm":
			dst = &o.warm
		case "i", "initrd":
			return nil, vmm.Configf("--%s: the sandbox builds its own initramfs", name)
		case "dump-dtb", "print-config":
			return nil, vmm.Configf("--%s is for gokvm run, not gokvm sandbox", name)
		case "f", "firmware", "firmware-address", "F", "flash":
			return nil, vmm.Configf("--%s: the sandbox boots a Linux kernel (-k), not firmware", name)
		}
		if dst == nil {
			rest = append(rest, a)
			// An unknown flag takes the next word along, for
			// parseRunFlags to name it.
			known, takesValue := runFlags.lookup(name)
			if !known {
				takesValue = name != "h" && name != "help"
			}
			if !hasValue && takesValue && i+1 < len(flags) {
				i++
				rest = append(rest, flags[i])
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(flags) {
				return nil, vmm.Configf("flag needs an argument: -%s", name)
			}
			i++
			value = flags[i]
		}
		*dst = value
	}
	run, err := parseRunFlags(rest)
	if err != nil {
		return nil, err
	}
	if run.name != "" || run.detach {
		return nil, vmm.Configf("--name and --detach are gokvm run's: a sandbox runs in the foreground")
	}
	if run.spec.Initrd != "" {
		return nil, vmm.Configf("initrd %s: the sandbox builds its own initramfs", run.spec.Initrd)
	}
	o.run = run
	return o, nil
}

// sandboxCommand is gokvm sandbox: CMD's status, or one of sandbox's.
func sandboxCommand(args []string, env Env) (status int) {
	start := time.Now()
	logger := log.New(env.Stderr, "gokvm: ", 0)
	o, err := parseSandboxFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	if err != nil {
		logger.Print(errorLine(err))
		return bisectSkipOr(args, sandbox.StatusFailed)
	}
	// From here on, how the run ends goes into --results and
	// --bisect-status's status, a failure to start too (Finish).
	rec, err := o.run.recorder(start)
	if err != nil {
		logger.Print(errorLine(err))
		return bisectSkipOr(args, sandbox.StatusFailed)
	}
	var end machine.RunEnd
	defer func() { status = rec.Finish(end, status, sandbox.StatusFailed, logger) }()
	console := newConsole(env.Stdin, env.Stdout)
	opts := sandbox.Options{
		Spec:     o.run.spec,
		Command:  o.command,
		Root:     o.root,
		Modules:  o.modules,
		Init:     o.init,
		Warm:     o.warm,
		Stdin:    console.input(),
		Terminal: console.tty >= 0,
		Stdout:   env.Stdout,
		Log:      logger,
		Start:    start,
		Stats:    o.run.stats,
		Recorder: rec,
		Symbols:  o.run.symbols,
		// gokvm's threads are all the VM's.
		BatchHelperThreads: true,
	}
	if console.tty >= 0 {
		if ws, err := unix.IoctlGetWinsize(console.tty, unix.TIOCGWINSZ); err == nil {
			opts.Rows, opts.Cols = ws.Row, ws.Col
		}
	}
	if o.run.consoleLog != "" {
		f, err := os.Create(o.run.consoleLog)
		if err != nil {
			end.Err = fmt.Errorf("--console-log: %w", err)
			logger.Print(end.Err)
			return sandbox.StatusFailed
		}
		defer f.Close()
		opts.ConsoleLog = f
	}
	s, err := sandbox.New(opts)
	if err != nil {
		end.Err = err
		logger.Print(errorLine(err))
		return sandbox.StatusFailed
	}
	defer func() {
		if err := closeTimed(s.Close, o.run.stats, logger); err != nil {
			logger.Printf("closing the machine: %s", errorLine(err))
			if status < sandbox.StatusTimeout {
				status = sandbox.StatusFailed
			}
		}
	}()

	sigs, release := runSignals(env)
	defer release()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stoppedBy := syscall.SIGINT
	watchRun(ctx, sigs, console.escaped(), s.Machine(), logger, func(sig os.Signal) {
		if ss, ok := sig.(syscall.Signal); ok {
			stoppedBy = ss
		}
	}, stop)
	signal.Ignore(syscall.SIGPIPE)
	restore := console.makeRaw()
	res, err := s.Run(ctx)
	end = machine.RunEnd{Outcome: res.Outcome, Err: err}
	restore()
	if o.run.stats {
		logStats(logger, s.Machine(), timelineLine(s.Timeline(), start))
	}
	if err != nil {
		logger.Print(errorLine(err))
		printTail(env.Stderr, res.ConsoleTail, o.run.consoleLog)
		return sandbox.StatusFailed
	}
	switch {
	case res.Outcome == vmm.OutcomeStopped:
		return sandbox.StatusSignalBase + int(stoppedBy)
	case res.Status == sandbox.StatusKernelDown && res.ConsoleTail != "":
		logger.Print(res.Message)
		printTail(env.Stderr, res.ConsoleTail, o.run.consoleLog)
	case res.Message != "":
		logger.Print(res.Message)
	}
	return res.Status
}

// printTail shows the end of the guest console on stderr, when no
// --console-log keeps all of it.
func printTail(w io.Writer, tail, consoleLog string) {
	if tail == "" {
		return
	}
	if consoleLog != "" {
		fmt.Fprintf(w, "gokvm: the guest console is in %s\n", consoleLog)
		return
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(tail, "\r", ""), "\n"), "\n")
	// From the panic's first line when there is one, else the last lines.
	from := max(len(lines)-25, 0)
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Kernel panic") {
			from = i
			break
		}
	}
	lines = lines[from:min(len(lines), from+40)]
	fmt.Fprintf(w, "gokvm: the guest console's last lines (--console-log FILE keeps it all):\n")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// teeWriter writes to each of its writers, whatever the others do: a
// console log file keeps everything even when the terminal goes away.
type teeWriter []io.Writer

func (t teeWriter) Write(p []byte) (int, error) {
	for _, w := range t {
		w.Write(p)
	}
	return len(p), nil
}
