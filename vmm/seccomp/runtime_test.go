package seccomp

import (
	"testing"

	"github.com/gokvm/gokvm/vmm/seccomp/seccomptest"
)

// runtimeNotInRun are the Go runtime's system calls the run phase never
// makes, so the allow-list leaves them out, and why.
var runtimeNotInRun = map[string]string{
	"open":            "at start: /proc/self/auxv, /sys and cgroup files, /dev/urandom (32-bit ARM)",
	"openat":          "at start: /proc/self/auxv, /sys and cgroup files, /dev/urandom",
	"uname":           "at start: the kernel's version",
	"mincore":         "at start: the page size where /proc/self/auxv cannot be read",
	"brk":             "at start: where the heap may go",
	"epoll_create1":   "the poller starts with the first file Go's os package opens, before the filter (the kernel, disks)",
	"pipe2":           "not on Linux, where the poller wakes up through an eventfd",
	"access":          "Android's logd (32-bit ARM's name)",
	"faccessat":       "Android's logd",
	"socket":          "Android's logd",
	"connect":         "Android's logd",
	"kill":            "only as the runtime dies of a signal (the process is ending)",
	"mprotect":        "only with GODEBUG settings that fault freed memory",
	"setitimer":       "the CPU profiler: GOKVM_CPUPROFILE adds it (cmd/gokvm)",
	"timer_create":    "the CPU profiler: GOKVM_CPUPROFILE adds it (cmd/gokvm)",
	"timer_settime":   "the CPU profiler: GOKVM_CPUPROFILE adds it (cmd/gokvm)",
	"timer_settime64": "the CPU profiler on 32-bit ARM from Linux 5.1: GOKVM_CPUPROFILE adds it (cmd/gokvm)",
	"timer_delete":    "the CPU profiler: GOKVM_CPUPROFILE adds it (cmd/gokvm)",
}

// TestRuntimeCallsAllowed: every system call this toolchain's Go runtime
// makes on an architecture is on the allow-list there, or known not to be
// made while the guest runs (runtimeNotInRun): a call the runtime makes
// under another name on one architecture (futex_time64 on 32-bit ARM
// since Linux 5.1) is caught on any host.
func TestRuntimeCallsAllowed(t *testing.T) {
	for _, arch := range seccomptest.Arches {
		a := seccomptest.Load(t, arch)
		allowed := map[string]bool{}
		for _, c := range Allowed {
			if c.AppliesTo(arch) {
				allowed[c.Name] = true
			}
		}
		for name := range a.Runtime {
			if !allowed[name] && runtimeNotInRun[name] == "" {
				t.Errorf("%s: the Go runtime makes %s, which the allow-list lacks", arch, name)
			}
		}
	}
	for name := range runtimeNotInRun {
		made := false
		for _, arch := range seccomptest.Arches {
			made = made || seccomptest.Load(t, arch).Runtime[name]
		}
		if !made {
			t.Errorf("runtimeNotInRun names %s, which the Go runtime no longer makes", name)
		}
	}
}
