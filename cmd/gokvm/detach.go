package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
)

// detachedChildEnv marks the gokvm that run --detach starts: it runs the
// VM with its console on the control socket and says on readyFD when
// the guest runs.
const detachedChildEnv = "GOKVM_DETACHED_CHILD"

// readyFD is the detached child's descriptor for readyWord.
const readyFD = 3

const readyWord = "ready\n"

func isDetachedChild() bool { return os.Getenv(detachedChildEnv) == "1" }

// detachRun is gokvm run --detach: it starts gokvm again in a session of
// its own, with no terminal, and returns 0 once the guest's first vcpu
// runs, or the child's status and messages when the VM could not start.
func detachRun(args []string, o *runOptions, env Env) int {
	name := o.name
	if name == "" {
		name = control.NewName()
		args = append(append([]string(nil), args...), "--name", name)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(env.Stderr, "gokvm: --detach: finding gokvm itself: %v\n", err)
		return machine.ExitFailure
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(env.Stderr, "gokvm: --detach: %v\n", err)
		return machine.ExitFailure
	}
	defer errR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		errW.Close()
		fmt.Fprintf(env.Stderr, "gokvm: --detach: %v\n", err)
		return machine.ExitFailure
	}
	defer readyR.Close()
	cmd := exec.Command(exe, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), detachedChildEnv+"=1")
	cmd.Stderr = errW // stdin and stdout: /dev/null
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	errW.Close()
	readyW.Close()
	if err != nil {
		fmt.Fprintf(env.Stderr, "gokvm: --detach: starting gokvm: %v\n", err)
		return machine.ExitFailure
	}
	// What the child logs until the guest runs (a bad kernel, a name in
	// use) is this command's.
	copied := make(chan struct{})
	go func() {
		io.Copy(env.Stderr, errR)
		close(copied)
	}()
	word, _ := io.ReadAll(io.LimitReader(readyR, 64))
	if string(word) == readyWord {
		// The child logs to the guest's console now; take what it wrote
		// before, without waiting for its end.
		errR.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		<-copied
		if o.name == "" {
			fmt.Fprintln(env.Stdout, name)
		}
		return 0
	}
	err = cmd.Wait()
	<-copied
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		return cmd.ProcessState.ExitCode()
	}
	fmt.Fprintf(env.Stderr, "gokvm: --detach: the detached gokvm ended before the guest ran: %s\n", strings.TrimSpace(fmt.Sprint(err)))
	return machine.ExitFailure
}
