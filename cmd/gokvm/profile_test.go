package main

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm/seccomp/seccomptest"
)

// TestProfilerCallsOnEveryArch: the calls GOKVM_CPUPROFILE adds are,
// on each architecture, every timer call the Go runtime's profiler makes
// there (timer_settime64 on 32-bit ARM), and calls it has.
func TestProfilerCallsOnEveryArch(t *testing.T) {
	for _, arch := range seccomptest.Arches {
		a := seccomptest.Load(t, arch)
		have := map[string]bool{}
		for _, c := range profilerCalls {
			if !c.AppliesTo(arch) {
				continue
			}
			have[c.Name] = true
			if !a.Names[c.Name] {
				t.Errorf("%s: %s, which it does not have", arch, c.Name)
			}
		}
		for name := range a.Runtime {
			if (strings.HasPrefix(name, "timer_") || name == "setitimer") && !have[name] {
				t.Errorf("%s: the profiler makes %s, which GOKVM_CPUPROFILE does not add", arch, name)
			}
		}
	}
}
