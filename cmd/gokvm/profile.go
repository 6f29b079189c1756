package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/gokvm/gokvm/vmm/seccomp"
)

// profileEnv names a file for a CPU profile of the whole gokvm process
// (runtime/pprof format, for `go tool pprof`): how gokvm's own time per
// I/O is found and measured.
const profileEnv = "GOKVM_CPUPROFILE"

// profilerCalls are what Go's CPU profiler does while the guest runs: a
// timer per thread (new threads get theirs as they start) and the
// process-wide one it falls back to.
var profilerCalls = []seccomp.Call{
	{Name: "timer_create", Why: "GOKVM_CPUPROFILE: the CPU profiler's per-thread timers"},
	{Name: "timer_settime", Why: "GOKVM_CPUPROFILE: the CPU profiler's per-thread timers"},
	{Name: "timer_settime64", Only: []string{"arm"}, Why: "GOKVM_CPUPROFILE: the CPU profiler's per-thread timers on 32-bit ARM from Linux 5.1 (64-bit time)"},
	{Name: "timer_delete", Why: "GOKVM_CPUPROFILE: the CPU profiler's per-thread timers"},
	{Name: "setitimer", Why: "GOKVM_CPUPROFILE: the CPU profiler's process timer"},
}

// startProfile starts the CPU profile GOKVM_CPUPROFILE asks for, if any;
// stop ends it and writes the file out. The calls it needs while the
// guest runs are returned for the seccomp filter.
func startProfile(stderr io.Writer) (stop func(), calls []seccomp.Call) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "gokvm: %s: %v\n", profileEnv, err)
		return func() {}, nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "gokvm: %s: %v\n", profileEnv, err)
		f.Close()
		return func() {}, nil
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "gokvm: %s: %v\n", profileEnv, err)
		}
	}, profilerCalls
}
