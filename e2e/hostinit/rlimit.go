package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// rlimitExec becomes argv with RLIMIT_NOFILE at n, soft and hard: a
// scenario that runs gokvm out of file descriptors. The hard limit is
// lowered too because the Go runtime raises its soft limit to the hard
// one at start. It execs, so the runner's signals reach gokvm itself.
//
//	rlimit NOFILE PROGRAM ARGS...
func rlimitExec(args []string) error {
	n, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil || len(args) < 3 {
		return fmt.Errorf("usage: rlimit NOFILE PROGRAM ARGS...")
	}
	// syscall's own Setrlimit, which also tells the runtime not to put
	// its saved limit back in the program it execs.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
		return err
	}
	return syscall.Exec(args[2], args[2:], os.Environ())
}
