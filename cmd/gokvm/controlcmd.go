package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
)

// controlCommand is gokvm list, pause, resume, stop, debug, wait and
// console: a client of VMs' control sockets.
func controlCommand(cmd string, args []string, env Env) int {
	logger := log.New(env.Stderr, "gokvm "+cmd+": ", 0)
	fs := flag.NewFlagSet("gokvm "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var jsonOut, dump bool
	var sysrq string
	switch cmd {
	case "list":
		fs.BoolVar(&jsonOut, "json", false, "")
	case "debug":
		fs.BoolVar(&dump, "dump", false, "")
		fs.StringVar(&sysrq, "sysrq", "", "")
	}
	name, err := parseNameAndFlags(fs, args, cmd != "list")
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usageText+exitStatusHelp)
		return 0
	}
	if err == nil && cmd == "debug" {
		switch {
		case dump == (sysrq != ""):
			err = errors.New("want one of --dump or --sysrq KEY")
		case sysrq != "":
			_, err = control.SysRqKey(sysrq)
			if err != nil {
				err = fmt.Errorf("--sysrq: %w", err)
			}
		}
	}
	if err != nil {
		logger.Printf("%v (see gokvm help)", err)
		return machine.ExitUsage
	}
	if cmd == "list" {
		return listCommand(jsonOut, env, logger)
	}
	c, err := control.Dial(name)
	if err != nil {
		logger.Print(err)
		return clientErrorStatus(err)
	}
	defer c.Close()
	switch cmd {
	case "pause":
		err = c.Pause()
	case "resume":
		err = c.Resume()
	case "debug":
		if dump {
			var text string
			text, err = c.DumpVcpus()
			fmt.Fprint(env.Stdout, text)
		} else {
			err = c.SysRq(sysrq[0])
		}
	case "stop":
		var r control.Result
		if r, err = c.Stop(); err == nil && r.Status == machine.ExitFailure {
			err = fmt.Errorf("%s ended with status %d: its shutdown failed (its log says why)", name, r.Status)
		}
	case "wait":
		r, err := c.Wait()
		if err != nil {
			logger.Print(err)
			return machine.ExitFailure
		}
		if r.Outcome != "powered off" {
			logger.Printf("%s: guest %s", name, r.Outcome)
		}
		return r.Status
	case "console":
		return attachConsole(c, name, env, logger)
	}
	if err != nil {
		logger.Print(err)
		return machine.ExitFailure
	}
	return 0
}

// parseNameAndFlags parses flags before and after the VM's name, which
// is required when withName is true.
func parseNameAndFlags(fs *flag.FlagSet, args []string, withName bool) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if !withName {
		if fs.NArg() > 0 {
			return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		return "", nil
	}
	if fs.NArg() == 0 {
		return "", errors.New("which VM? (a name, as gokvm list shows)")
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return name, control.CheckName(name)
}

// clientErrorStatus: a bad name is a usage error; anything else (no such
// VM, a socket that cannot be reached) a failure.
func clientErrorStatus(err error) int {
	if errors.Is(err, control.ErrBadName) {
		return machine.ExitUsage
	}
	return machine.ExitFailure
}

// listCommand prints every VM of this user.
func listCommand(jsonOut bool, env Env, logger *log.Logger) int {
	vms, err := control.List()
	if err != nil {
		logger.Print(err)
		return machine.ExitFailure
	}
	if jsonOut {
		if vms == nil {
			vms = []control.Info{}
		}
		b, _ := json.MarshalIndent(vms, "", "  ")
		fmt.Fprintf(env.Stdout, "%s\n", b)
		return 0
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPID\tSTATE\tUPTIME\tVCPUS\tMEMORY\tKERNEL")
	for _, v := range vms {
		up := (time.Duration(v.UptimeSeconds) * time.Second).String()
		mode := ""
		if !v.Detached {
			mode = " (foreground)"
		}
		fmt.Fprintf(w, "%s\t%d\t%s%s\t%s\t%d\t%s\t%s\n", v.Name, v.PID, v.State, mode, up, v.VCPUs, memoryText(v.Memory), v.Kernel)
	}
	w.Flush()
	return 0
}

// memoryText shows -m's value with its unit: a bare number is MiB.
func memoryText(m string) string {
	if m != "" && strings.IndexFunc(m, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return m + "M"
	}
	return m
}
