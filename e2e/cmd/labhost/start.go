package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/lab"
)

// defaultStartTimeout covers the build and the emulated host's boot (about
// 20 s under TCG on two cores) with room for a slow CI machine.
const defaultStartTimeout = 5 * time.Minute

// hostModules are the emulated host's kernel modules: the network
// interface the agent listens on, and tun for guests with taps.
var hostModules = []string{"virtio_mmio", "failover", "net_failover", "virtio_net", "tun"}

// start builds gokvm and the agent for arm64, boots the emulated host in
// the background and waits for its agent.
func start(dir string, gic int, timeout time.Duration) int {
	if gic != 2 && gic != 3 {
		return fail("--gic %d: want 3 or 2", gic)
	}
	if pid, err := readPid(dir); err == nil && alive(pid) {
		return fail("an emulated host already runs from %s (QEMU pid %d): labhost stop first", dir, pid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("%v", err)
	}
	begin := time.Now()
	initrd, err := buildHost(dir)
	if err != nil {
		return fail("%v", err)
	}
	port, err := freePort()
	if err != nil {
		return fail("choosing a port: %v", err)
	}
	kernel := filepath.Join(harness.Kernels(), "arm64", "Image")
	args := harness.QEMUArgs(harness.Host{GIC: gic}, kernel, initrd)
	// The agent's port, forwarded from the loopback interface here; with
	// restrict=on the emulated host reaches nothing else.
	args = append(args,
		"-netdev", fmt.Sprintf("user,id=lab,restrict=on,hostfwd=tcp:127.0.0.1:%d-10.0.2.15:%d", port, lab.AgentPort),
		"-device", "virtio-net-device,netdev=lab",
		"-pidfile", filepath.Join(dir, "qemu.pid"))
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return fail("%v", err)
	}
	defer console.Close()
	cmd := exec.Command("qemu-system-aarch64", args...)
	cmd.Stdout, cmd.Stderr = console, console
	// A session of its own: the emulated host outlives this command.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail("starting qemu-system-aarch64: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "port"), []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return fail("%v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "qemu.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return fail("%v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			return fail("the emulated host ended before its agent answered (%v); its console:\n%s", err, consoleTail(dir))
		default:
		}
		if err := ping(dir, 5*time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fail("the emulated host's agent did not answer within %v; its console:\n%s", timeout, consoleTail(dir))
		}
		time.Sleep(time.Second)
	}
	fmt.Printf("labhost: emulated arm64 host (GICv%d, %s) ready after %v; agent on 127.0.0.1:%d, console in %s\n",
		gic, harness.QEMUVersion(), time.Since(begin).Round(100*time.Millisecond), port, filepath.Join(dir, "console.log"))
	return 0
}

// buildHost cross-compiles gokvm and the agent and writes the emulated
// host's initramfs: the agent as /init, gokvm (also as /bin/gokvm), the
// modules.
func buildHost(dir string) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	kernels := harness.Kernels()
	if _, err := os.Stat(filepath.Join(kernels, "arm64", "Image")); err != nil {
		return "", fmt.Errorf("no arm64 kernel in %s: run `make kernels` first", kernels)
	}
	b := &harness.Build{
		Dir:         dir,
		Gokvm:       filepath.Join(dir, "gokvm"),
		GuestDir:    filepath.Join(dir, "payload"),
		HostInit:    filepath.Join(dir, "labagent"),
		HostModules: map[string]string{},
		HostLinks:   map[string]string{"bin/gokvm": "/gokvm"},
	}
	if err := os.MkdirAll(b.GuestDir, 0o755); err != nil {
		return "", err
	}
	for _, x := range []struct{ pkg, out string }{
		{"./cmd/gokvm", b.Gokvm},
		{"./e2e/labagent", b.HostInit},
	} {
		if err := harness.GoBuild(root, x.pkg, "arm64", x.out); err != nil {
			return "", err
		}
	}
	for _, m := range hostModules {
		p := filepath.Join(kernels, "arm64", "modules", m+".ko")
		if _, err := os.Stat(p); err == nil {
			b.HostModules[m+".ko"] = p
		}
	}
	return b.HostInitramfs("lab", "lab.json", []byte("{}\n"))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "qemu.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func consoleTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "console.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop asks the agent to power the emulated host off, and kills QEMU if it
// is still there after 30 s.
func stop(dir string) int {
	pid, err := readPid(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("no emulated host started from %s", dir)
		}
		return fail("%v", err)
	}
	if _, _, err := request(dir, lab.Request{Op: "poweroff"}, nil, 10*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "labhost: asking the agent to power off: %v\n", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	status := 0
	if alive(pid) {
		fmt.Fprintf(os.Stderr, "labhost: QEMU (pid %d) still runs after 30 s: killing it\n", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		status = 1
	}
	os.Remove(filepath.Join(dir, "qemu.pid"))
	os.Remove(filepath.Join(dir, "port"))
	return status
}
