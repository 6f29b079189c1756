// Command controltest drives gokvm's control commands inside the emulated
// host: two VMs started with run --detach, listed, paused and resumed,
// attached to, dumped, sent a SysRq, stopped and waited for, and a
// connection attempt from another user. It prints CONTROLTEST lines
// saying what it saw and exits 0 when all were as they must be.
//
//	controltest GOKVM KERNEL INITRD WORK
//	controltest connect SOCKET   (as another user: try to connect)
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/pattern"
)

const (
	diskSeed = 33
	diskMiB  = 1
	// otherUID is the user that must not reach the sockets.
	otherUID = 1000
)

var failed bool

func check(ok bool, format string, args ...any) {
	status := "ok"
	if !ok {
		status, failed = "FAIL", true
	}
	fmt.Printf("CONTROLTEST %s %s\n", status, fmt.Sprintf(format, args...))
}

var gokvm string

// run runs gokvm with args and returns its status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	cmd := exec.Command(gokvm, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	fmt.Printf("L1: gokvm %s -> %d\n", strings.Join(args, " "), code)
	if s := strings.TrimSpace(errb.String()); s != "" {
		fmt.Printf("L1:   stderr: %s\n", strings.ReplaceAll(s, "\n", "\nL1:   stderr: "))
	}
	return code, out.String(), errb.String()
}

// logLines reads a console log's lines.
func logLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Split(strings.ReplaceAll(string(b), "\r", ""), "\n")
}

func count(path, prefix string) int {
	n := 0
	for _, l := range logLines(path) {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// waitLog waits for a line containing s in a console log.
func waitLog(path, s string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, l := range logLines(path) {
			if strings.Contains(l, s) {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "connect" {
		c, err := net.Dial("unix", os.Args[2])
		if err == nil {
			c.Close()
			fmt.Println("connected")
			os.Exit(0)
		}
		fmt.Printf("refused: %v\n", err)
		os.Exit(1)
	}
	if len(os.Args) != 5 {
		fmt.Println("usage: controltest GOKVM KERNEL INITRD WORK")
		os.Exit(2)
	}
	gokvm = os.Args[1]
	kernel, initrd, work := os.Args[2], os.Args[3], os.Args[4]
	// The state directory: a runtime directory others may enter, whose
	// gokvm directory they may not.
	xdg := filepath.Join(work, "run")
	os.MkdirAll(xdg, 0o755)
	os.Chmod(work, 0o755)
	os.Setenv("XDG_RUNTIME_DIR", xdg)
	state := filepath.Join(xdg, "gokvm")

	disk := filepath.Join(work, "a.img")
	if err := os.WriteFile(disk, make([]byte, 4<<20), 0o644); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	logA, logB := filepath.Join(work, "a.log"), filepath.Join(work, "b.log")
	params := func(actions string) string { return "console=ttyS0 quiet panic=-1 gokvm.do=" + actions }
	base := []string{"run", "--detach", "-k", kernel, "-i", initrd, "-m", "128", "--timeout", "200s"}

	code, out, _ := run(append(base, "--name", "vm-a", "-c", "2", "-d", disk, "--console-log", logA,
		"-p", params(fmt.Sprintf("marker,modules,write:vda:%d:%d,say:written,readline,counter:100000", diskSeed, diskMiB)))...)
	check(code == 0 && out == "", "run --detach --name vm-a returned 0 at once, printing nothing (status %d, %q)", code, out)
	// The second VM gets a name made up for it.
	code, out, _ = run(append(base, "--console-log", logB, "-p", params("marker,counter:250,poweroff"))...)
	vmB := strings.TrimSpace(out)
	check(code == 0 && strings.HasPrefix(vmB, "vm-") && len(vmB) == 11, "run --detach without --name returned 0 and printed the name it made up (status %d, %q)", code, out)
	code, _, errOut := run(append(base, "--name", vmB, "-p", params("poweroff"))...)
	check(code == 2 && strings.Contains(errOut, "running"), "a third VM named %s: status %d (want 2), %q", vmB, code, strings.TrimSpace(errOut))
	code, _, errOut = run(append(base, "--name", "bad/name")...)
	check(code == 2, "a bad name: status %d (want 2), %q", code, strings.TrimSpace(errOut))
	code, _, errOut = run("run", "--detach", "-k", filepath.Join(work, "no-such-kernel"))
	check(code == 2 && strings.Contains(errOut, "no such file"), "run --detach with a missing kernel: status %d (want 2, as run), %q", code, strings.TrimSpace(errOut))

	waited := make(chan int, 1)
	go func() {
		code, _, _ := run("wait", vmB)
		waited <- code
	}()

	code, out, _ = run("list", "--json")
	var vms []struct {
		Name, State, Kernel, Memory string
		PID, VCPUs                  int
		Detached                    bool
	}
	err := json.Unmarshal([]byte(out), &vms)
	if len(vms) == 2 && vms[0].Name != "vm-a" { // sorted by name
		vms[0], vms[1] = vms[1], vms[0]
	}
	check(code == 0 && err == nil && len(vms) == 2 && vms[0].Name == "vm-a" && vms[1].Name == vmB &&
		vms[0].VCPUs == 2 && vms[1].VCPUs == 1 && vms[0].Memory == "128" && vms[0].Kernel == kernel && vms[0].Detached &&
		vms[0].State == "running" && vms[0].PID > 0 && vms[0].PID != vms[1].PID,
		"list --json shows both VMs: %s", strings.Join(strings.Fields(out), " "))
	fi, err := os.Stat(state)
	check(err == nil && fi.Mode().Perm() == 0o700, "the state directory is 0700 (%v %v)", fi.Mode().Perm(), err)
	fi, err = os.Stat(filepath.Join(state, "vm-a.sock"))
	check(err == nil && fi.Mode().Perm() == 0o600, "vm-a's socket is 0600 (%v %v)", fi.Mode().Perm(), err)

	// Another user cannot reach the socket.
	other := exec.Command(os.Args[0], "connect", filepath.Join(state, "vm-a.sock"))
	other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	otherOut, err := other.CombinedOutput()
	check(err != nil && strings.Contains(string(otherOut), "refused: ") && strings.Contains(string(otherOut), "permission denied"), "uid %d cannot connect to vm-a's socket: %s", otherUID, strings.TrimSpace(string(otherOut)))

	check(waitLog(logA, "GUEST-SAY written", 120*time.Second), "vm-a booted and wrote its disk")

	// The console: the history first, then input the guest echoes.
	con := exec.Command(gokvm, "console", "vm-a")
	stdin, _ := con.StdinPipe()
	stdout, _ := con.StdoutPipe()
	var conErr bytes.Buffer
	con.Stderr = &conErr
	if err := con.Start(); err != nil {
		check(false, "gokvm console: %v", err)
	}
	conLines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			conLines <- strings.TrimRight(sc.Text(), "\r")
		}
		close(conLines)
	}()
	expect := func(s string, limit time.Duration) bool {
		t := time.After(limit)
		for {
			select {
			case l, ok := <-conLines:
				if !ok {
					return false
				}
				if strings.Contains(l, s) {
					return true
				}
			case <-t:
				return false
			}
		}
	}
	check(expect("GUEST-SAY written", 10*time.Second), "gokvm console replayed what vm-a printed before")
	time.Sleep(500 * time.Millisecond)
	code, _, errOut = run("console", "vm-a")
	check(code == 1 && strings.Contains(errOut, fmt.Sprintf("pid %d", con.Process.Pid)), "a second console is refused naming the first: %q", strings.TrimSpace(errOut))
	io.WriteString(stdin, "hello-console\n")
	check(expect("GUEST-ECHO hello-console", 20*time.Second), "the guest echoed what gokvm console sent")
	check(expect("GUEST-COUNT 3", 20*time.Second), "gokvm console shows the counter")
	con.Process.Signal(syscall.SIGTERM)
	err = con.Wait()
	check(err == nil, "gokvm console ended on SIGTERM with status 0 (%v) %q", err, conErr.String())

	// Pause and resume.
	code, _, _ = run("pause", "vm-a")
	check(code == 0, "pause vm-a: status %d", code)
	time.Sleep(300 * time.Millisecond)
	before := count(logA, "GUEST-COUNT")
	code, out, _ = run("list")
	check(code == 0 && strings.Contains(out, "paused"), "list shows vm-a paused:\n%s", out)
	time.Sleep(3 * time.Second)
	after := count(logA, "GUEST-COUNT")
	check(before > 0 && after == before, "vm-a printed nothing in 3s paused (%d lines, then %d)", before, after)
	code, _, errOut = run("pause", "vm-a")
	check(code == 1 && strings.Contains(errOut, "already paused"), "pausing it again: status %d %q", code, strings.TrimSpace(errOut))
	code, _, _ = run("resume", "vm-a")
	check(code == 0, "resume vm-a: status %d", code)
	time.Sleep(3 * time.Second)
	check(count(logA, "GUEST-COUNT") > after+5, "vm-a's counter went on after resume (%d -> %d)", after, count(logA, "GUEST-COUNT"))

	// Debug.
	code, out, _ = run("debug", "vm-a", "--dump")
	check(code == 0 && strings.Contains(out, "vcpu 0:") && strings.Contains(out, "vcpu 1:"), "debug --dump describes both vcpus:\n%s", out)
	code, _, _ = run("debug", "vm-a", "--sysrq", "h")
	check(code == 0, "debug --sysrq h: status %d", code)
	check(waitLog(logA, "sysrq: HELP", 20*time.Second), "the guest's SysRq handler answered on its console")

	// Stop: the disk written and flushed, the status of a stopped VM.
	code, _, errOut = run("stop", "vm-a")
	check(code == 0, "stop vm-a: status %d %q", code, strings.TrimSpace(errOut))
	b, _ := os.ReadFile(disk)
	want := pattern.SHA256(pattern.Bytes(diskSeed, diskMiB<<20))
	check(len(b) >= diskMiB<<20 && pattern.SHA256(b[:diskMiB<<20]) == want, "vm-a's disk holds what it wrote after stop")
	check(waitLog(logA, "stop from the control socket", time.Second), "vm-a's console log says who stopped it")
	_, err = os.Lstat(filepath.Join(state, "vm-a.sock"))
	check(os.IsNotExist(err), "vm-a's socket is gone (%v)", err)

	select {
	case code = <-waited:
		check(code == 0, "wait returned the second VM's status after it powered off: %d", code)
	case <-time.After(120 * time.Second):
		check(false, "wait for the second VM did not return")
	}
	check(count(logB, "GUEST-COUNT") == 250, "the second VM counted to the end (%d)", count(logB, "GUEST-COUNT"))
	entries, err := os.ReadDir(state)
	check(err == nil && len(entries) == 0, "the state directory holds nothing after both ended (%d entries, %v)", len(entries), err)
	code, out, _ = run("list", "--json")
	check(code == 0 && strings.TrimSpace(out) == "[]", "list --json is empty: %q", out)
	if failed {
		os.Exit(1)
	}
}
