// Command labhost lets a LAVA dispatcher on a machine without KVM/ARM drive
// gokvm: it boots one emulated arm64 host (qemu-system-aarch64 with
// virtualization=on, as the end-to-end tests do) in the background, whose
// init (e2e/labagent) runs the commands labhost forwards to it.
//
//	labhost start [--gic 3] [--timeout 5m]  boot the emulated host; return when its agent answers
//	labhost exec -- COMMAND ARGS...         run COMMAND in the emulated host, with this
//	                                        process's standard streams and its exit status
//	labhost put FILE PATH                   copy FILE to PATH in the emulated host
//	labhost stop                            power the emulated host off
//	labhost initramfs --busybox B OUT       write the busybox initramfs of the LAVA example job
//
// Every command takes --dir DIR (default $LABHOST_DIR, else /tmp/labhost):
// the state directory holding the forwarded port, QEMU's pid and the
// emulated host's console (console.log). The emulated host has no network
// but QEMU user networking restricted (restrict=on) to the agent's port,
// forwarded from 127.0.0.1 here.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	// --dir may come before the command too (labhost --dir D exec -- ...).
	global := flag.NewFlagSet("labhost", flag.ExitOnError)
	globalDir := global.String("dir", defaultDir(), "state directory")
	global.Usage = usage
	global.Parse(os.Args[1:])
	if global.NArg() < 1 {
		usage()
	}
	cmd, args := global.Arg(0), global.Args()[1:]
	fs := flag.NewFlagSet("labhost "+cmd, flag.ExitOnError)
	dir := fs.String("dir", *globalDir, "state directory")
	var run func() int
	switch cmd {
	case "start":
		gic := fs.Int("gic", 3, "GIC version of the emulated host (3 or 2)")
		timeout := fs.Duration("timeout", defaultStartTimeout, "how long the emulated host may take to answer")
		fs.Parse(args)
		run = func() int { return start(*dir, *gic, *timeout) }
	case "exec":
		fs.Parse(args)
		if fs.NArg() == 0 {
			usage()
		}
		run = func() int { return execRemote(*dir, fs.Args()) }
	case "put":
		fs.Parse(args)
		if fs.NArg() != 2 {
			usage()
		}
		run = func() int { return putRemote(*dir, fs.Arg(0), fs.Arg(1)) }
	case "stop":
		fs.Parse(args)
		run = func() int { return stop(*dir) }
	case "initramfs":
		busybox := fs.String("busybox", "", "a static arm64 busybox")
		fs.Parse(args)
		if *busybox == "" || fs.NArg() != 1 {
			usage()
		}
		run = func() int { return writeGuestInitramfs(*busybox, fs.Arg(0)) }
	default:
		usage()
	}
	os.Exit(run())
}

func defaultDir() string {
	if d := os.Getenv("LABHOST_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "labhost")
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: labhost [--dir DIR] start [--gic 3|2] [--timeout D]
       labhost exec [--dir DIR] -- COMMAND ARGS...
       labhost put [--dir DIR] FILE PATH
       labhost stop [--dir DIR]
       labhost initramfs --busybox BUSYBOX OUT`)
	os.Exit(2)
}

func fail(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "labhost: "+format+"\n", a...)
	return 1
}
