// Command hostinit is /init of the emulated arm64 host ("L1") in the
// end-to-end tests. It runs every scenario in /scenarios.json with /gokvm
// against the payloads in /guest, prints each result framed on the console,
// and powers the emulated host off.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	"golang.org/x/sys/unix"
)

func main() {
	if os.Getpid() != 1 {
		// Run as a helper command by a scenario's Before/After steps.
		os.Exit(tool(os.Args[1:]))
	}
	start := time.Now()
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		// KVM's per-VM statistics, which the benchmarks read for
		// gokvm and kvmtool alike (kvmstats.Sample).
		{"debugfs", "/sys/kernel/debug", "debugfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			fmt.Printf("L1: mount %s: %v\n", m.dst, err)
		}
	}
	os.Setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin")
	// Taps need the tun driver, a module in Debian's kernel.
	if f, err := os.Open("/modules/tun.ko"); err == nil {
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			fmt.Printf("L1: loading tun: %v\n", err)
		}
		f.Close()
	}
	loadVhostModules()
	if err := run(); err != nil {
		fmt.Printf("L1-ERROR %v\n", err)
	}
	fmt.Printf("L1-DONE after %v\n", time.Since(start).Round(time.Millisecond))
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run() error {
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		fmt.Printf("L1-CPUS %d\n", strings.Count(string(b), "processor"))
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		fmt.Printf("L1-NO-KVM %v\n", err)
		if b, err := exec.Command("/bin/dmesg").CombinedOutput(); err == nil {
			fmt.Printf("%s\n", b)
		}
	}
	if args, err := os.ReadFile("/interactive.json"); err == nil {
		return interactive(args)
	}
	b, err := os.ReadFile("/scenarios.json")
	if err != nil {
		return err
	}
	var scenarios []scenario.Scenario
	if err := json.Unmarshal(b, &scenarios); err != nil {
		return fmt.Errorf("scenarios.json: %v", err)
	}
	for _, s := range scenarios {
		work, err := os.MkdirTemp("/tmp", "work")
		if err != nil {
			return err
		}
		fmt.Printf("L1-SCENARIO %s\n", s.Name)
		r := scenario.Run("/gokvm", "/guest", work, s)
		if err := scenario.Encode(os.Stdout, r); err != nil {
			return err
		}
		os.RemoveAll(work)
	}
	return nil
}

// interactive runs one gokvm with the console attached, for `make try`.
func interactive(js []byte) error {
	var args []string
	if err := json.Unmarshal(js, &args); err != nil {
		return fmt.Errorf("interactive.json: %v", err)
	}
	fmt.Printf("L1: gokvm %s\n", strings.Join(args, " "))
	cmd := exec.Command("/gokvm", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	fmt.Printf("L1: gokvm exited: %v (status %d)\n", err, cmd.ProcessState.ExitCode())
	return nil
}
