// Command emuhost boots a guest under gokvm where this machine allows:
// directly on an arm64 host with /dev/kvm, or inside an emulated arm64 host
// (qemu-system-aarch64, virtualization=on) anywhere else. `make try` shows a
// guest's console this way; `make bench` measures boot figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

func main() {
	gic := flag.Int("gic", 3, "GIC version of the emulated host (3 or 2)")
	bench := flag.Bool("bench", false, "measure boot figures and print a table")
	compat := flag.Bool("compat", false, "run each compatibility case under kvmtool (--peer) and gokvm with the same options and print a table")
	compatOut := flag.String("compat-out", "", "with --compat: also write the table to this file")
	compatTimeout := flag.Duration("compat-timeout", 3*time.Minute, "with --compat: kill a run still going after this; it fails")
	runs := flag.Int("runs", 5, "boots per VMM for the boot figures with --bench")
	rounds := flag.Int("rounds", 3, "runs per VMM of each I/O workload with --bench")
	peer := flag.String("peer", "", "with --bench: kvmtool's static arm64 lkvm, measured beside gokvm (\"self\": gokvm again, with kvmtool's command line, for an A/A run); with --compat: the kvmtool to compare with")
	profile := flag.String("profile", "", "with --bench: write a CPU profile of each gokvm run (GOKVM_CPUPROFILE) into this directory")
	haltPoll := flag.String("halt-poll-ns", "", "with --bench: set the host KVM's halt_poll_ns (/sys/module/kvm/parameters) before each run")
	traceExits := flag.Bool("trace-exits", false, "with --bench: count the host KVM's vcpu exits by kind in the warm sandbox runs (a kvm:kvm_exit histogram; it slows every exit a little)")
	traceSyscalls := flag.Bool("trace-syscalls", false, "with --bench: count the system calls of each VMM's threads per request, by kind (a raw_syscalls:sys_enter histogram; it slows every system call a little)")
	kernelProfile := flag.Bool("kernel-profile", false, "with --bench: sample where the host kernel spends each VMM's threads' time, and print the costliest kernel functions per request (a cpu-clock perf event on every CPU; with --profile, the folded stacks are written there too)")
	only := flag.String("only", "", "with --bench: a regexp choosing workloads (boot, disk, net, vhostnet, 9p, sandbox, warm, fault, exits, disk-pci, net-pci)")
	aarch32 := flag.Bool("aarch32", false, "boot the 32-bit (armhf) guest kernel instead")
	cpu := flag.String("cpu", "", "QEMU CPU model of the emulated host (default max,pauth=off)")
	repeat := flag.Int("repeat", 0, "boot the guest this many times in one emulated host and report each run")
	params := flag.String("params", "", "the guest's command line (default: a boot that reports what it sees and powers off; quiet with --repeat)")
	flag.Parse()
	var err error
	if *peer == peerSelf && *compat {
		fatal(fmt.Errorf("--compat compares gokvm with kvmtool: --peer %s is for --bench", peerSelf))
	}
	if *peer != "" && *peer != peerSelf {
		if *peer, err = filepath.Abs(*peer); err == nil {
			_, err = os.Stat(*peer)
		}
		if err != nil {
			fatal(fmt.Errorf("--peer: %w", err))
		}
	}
	if *compat && *peer == "" {
		fatal(fmt.Errorf("--compat needs --peer, the kvmtool (lkvm) to compare gokvm with"))
	}
	dir, err := os.MkdirTemp("", "gokvm-emuhost")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := harness.Prepare(dir)
	if err != nil {
		fatal(err)
	}
	host := harness.Host{GIC: *gic, CPU: *cpu}
	if *compat {
		regressions, err := runCompat(b, host, *peer, *compatTimeout, *compatOut)
		if err != nil {
			fatal(err)
		}
		if regressions > 0 {
			fmt.Fprintf(os.Stderr, "emuhost: gokvm fails %d case(s) kvmtool passes\n", regressions)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		return
	}
	if *bench {
		var re *regexp.Regexp
		if *only != "" {
			if re, err = regexp.Compile(*only); err != nil {
				fatal(err)
			}
		}
		if err := runBench(b, host, *runs, *rounds, *peer, *profile, *haltPoll, *traceExits, *traceSyscalls, *kernelProfile, re); err != nil {
			fatal(err)
		}
		return
	}
	guest, defaultParams := "/guest/", "console=ttyS0 panic=-1 gokvm.do=marker,cpus,uname,sleep2,poweroff"
	if *repeat > 0 {
		// The scenario runner expands $GUEST; quiet keeps each run short.
		guest, defaultParams = "$GUEST/", "console=ttyS0 quiet panic=-1 gokvm.do=marker,cpus,uname,poweroff"
	}
	if *params == "" {
		*params = defaultParams
	}
	args := []string{"run", "-k", guest + "Image", "-i", guest + "initrd.cpio"}
	if *aarch32 {
		args = []string{"run", "--aarch32", "-k", guest + "zImage", "-i", guest + "initrd32.cpio"}
	}
	args = append(append(args, "-p", *params), flag.Args()...)
	if *repeat > 0 {
		os.Exit(runRepeat(b, host, *repeat, args))
	}
	os.Exit(interactive(b, host, args))
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "emuhost: %v\n", err)
	os.Exit(1)
}

// interactive boots one guest with the console on this terminal.
func interactive(b *harness.Build, host harness.Host, args []string) int {
	if harness.Direct() {
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "/guest/", b.GuestDir+"/")
		}
		cmd := exec.Command(b.Gokvm, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Run()
		return cmd.ProcessState.ExitCode()
	}
	js, _ := json.Marshal(args)
	initrd, err := b.HostInitramfs("l1-try", "interactive.json", js)
	if err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "emuhost: booting the emulated arm64 host (GICv%d, -cpu %s); Ctrl-A x leaves QEMU\n", host.GIC, host.CPUModel())
	cmd := exec.CommandContext(context.Background(), "qemu-system-aarch64", harness.QEMUArgs(host, b.HostKernel, initrd)...)
	cmd.Args = append(cmd.Args[:1], append([]string{"-nographic"}, removeSerialArgs(cmd.Args[1:])...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	cmd.Run()
	fmt.Fprintf(os.Stderr, "emuhost: the emulated host ran for %s\n", time.Since(start).Round(100*time.Millisecond))
	return cmd.ProcessState.ExitCode()
}

// removeSerialArgs drops the batch-mode console flags -nographic replaces.
func removeSerialArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-display", "-monitor", "-serial":
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// runScenarios runs ss directly on an arm64 host with /dev/kvm, or else in
// one emulated host given limit in all, and says where. On an error the
// results that came back before it are returned with it.
func runScenarios(b *harness.Build, host harness.Host, ss []scenario.Scenario, limit time.Duration) (map[string]scenario.Result, string, error) {
	if harness.Direct() {
		return harness.RunDirect(b, ss), "directly on this arm64 host", nil
	}
	where := fmt.Sprintf("in the emulated arm64 host (%s TCG, GICv%d, -cpu %s)", harness.QEMUVersion(), host.GIC, host.CPUModel())
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	res, err := harness.RunEmulated(ctx, b, host, ss, nil)
	return res, where, err
}
