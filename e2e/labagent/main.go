// Command labagent is /init of the emulated arm64 host that `make lava`
// boots (e2e/cmd/labhost): it brings up the host's only network interface
// (QEMU user networking restricted to one forwarded port) and runs the
// commands labhost sends (gokvm run --detach, gokvm console, gokvm stop,
// a file to put) with their standard streams forwarded and their exit
// statuses returned. See package e2e/lab for the protocol.
//
// As PID 1 it only prepares the host and reaps: the agent is a child
// process, so orphans (a detached gokvm whose starter ended) are reaped here
// without racing the agent's own waits. When the agent ends, the host
// powers off.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/gokvm/gokvm/e2e/netcfg"
	"golang.org/x/sys/unix"
)

const childEnv = "LABAGENT_CHILD"

func main() {
	if os.Getenv(childEnv) == "1" {
		if err := serve(); err != nil {
			fmt.Printf("labagent: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "labagent: run as the emulated host's /init")
		os.Exit(2)
	}
	if err := prepare(); err != nil {
		fmt.Printf("LABAGENT-ERROR %v\n", err)
	} else if err := runAgent(); err != nil {
		fmt.Printf("LABAGENT-ERROR %v\n", err)
	}
	fmt.Println("LABAGENT-DONE")
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// prepare mounts the usual file systems, loads the network driver and
// gives eth0 QEMU user networking's guest address.
func prepare() error {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	os.MkdirAll("/root", 0o700)
	// virtio_net and what it needs, in dependency order; tun for taps.
	for _, m := range []string{"virtio_mmio", "failover", "net_failover", "virtio_net", "tun"} {
		if err := loadModule("/modules/" + m + ".ko"); err != nil {
			return err
		}
	}
	if err := netcfg.WaitInterface("eth0", 30*time.Second); err != nil {
		return err
	}
	if err := netcfg.Up("lo", "127.0.0.1/8"); err != nil {
		return err
	}
	return netcfg.Up("eth0", "10.0.2.15/24")
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil // built into this kernel, or not needed
		}
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	return nil
}

// runAgent starts the agent as a child and reaps every process until the
// agent ends.
func runAgent() error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{childEnv + "=1", "PATH=/bin:/sbin", "HOME=/root", "XDG_RUNTIME_DIR=/run"}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4: %w", err)
		}
		if pid == cmd.Process.Pid {
			if ws.ExitStatus() != 0 {
				return fmt.Errorf("the agent ended with status %d", ws.ExitStatus())
			}
			return nil
		}
	}
}
