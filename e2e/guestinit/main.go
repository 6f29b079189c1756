// Command guestinit is /init of the end-to-end tests' guests. It mounts what
// it needs, then performs the actions named by gokvm.do= on the kernel
// command line, printing what it finds on the console for the test to
// assert, e.g. gokvm.do=marker,cpus,sleep2,poweroff.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	mounts()
	var actions []string
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "gokvm.do="); ok {
				actions = strings.Split(v, ",")
			}
		}
	}
	if len(actions) == 0 {
		actions = []string{"marker", "poweroff"}
	}
	for _, a := range actions {
		if err := do(a); err != nil {
			fmt.Printf("GUEST-ERROR %s: %v\n", a, err)
		}
	}
	// Nothing said how to stop: power off so the run ends.
	poweroff()
}

func mounts() {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && err != unix.EBUSY {
			fmt.Printf("GUEST-ERROR mount %s: %v\n", m.dst, err)
		}
	}
}

func do(action string) error {
	switch action {
	case "marker":
		fmt.Println("GOKVM-GUEST-MARKER")
	case "cpus":
		b, err := os.ReadFile("/sys/devices/system/cpu/online")
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-CPUS-ONLINE %s (runtime.NumCPU %d)\n", strings.TrimSpace(string(b)), runtime.NumCPU())
	case "uname":
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		fmt.Printf("GUEST-UNAME %s\n", unix.ByteSliceToString(u.Machine[:]))
	case "sleep2":
		before, err := uptime()
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-SLEEP-START uptime=%.2f\n", before)
		time.Sleep(2 * time.Second)
		after, err := uptime()
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-SLEEP-END uptime=%.2f elapsed=%.2f\n", after, after-before)
	case "poweroff":
		poweroff()
	case "readline":
		// The console is stdin: what gokvm's standard input carries.
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			return err
		}
		fmt.Printf("GUEST-ECHO %s\n", strings.TrimSpace(line))
	case "hang":
		// Sleep rather than block forever: a Go program whose goroutines
		// all block dies, and init dying panics the kernel.
		for {
			time.Sleep(time.Hour)
		}
	case "reboot":
		fmt.Println("GUEST-REBOOTING")
		unix.Sync()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	case "panic":
		fmt.Println("GUEST-PANICKING")
		return os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
	default:
		return runExtra(action)
	}
	return nil
}

func uptime() (float64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	var up float64
	_, err = fmt.Sscanf(string(b), "%f", &up)
	return up, err
}

func poweroff() {
	// A phase left open would keep what the guest printed to itself.
	if err := endPhase(); err != nil {
		fmt.Printf("GUEST-ERROR phase-end: %v\n", err)
	}
	fmt.Println("GUEST-POWEROFF")
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Printf("GUEST-ERROR poweroff: %v\n", err)
	}
	select {}
}
