package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// vcpuAffinity waits (up to limit) until want vcpu threads (named
// gokvm-vcpuN) exist in processes started after it, and prints each
// one's allowed CPUs as /proc says: HOST-AFFINITY gokvm-vcpu0 1; then
// the scheduling policies of that gokvm's threads (threadPolicies). The
// scenario's gokvm starts after its background commands; a gokvm that
// was already running (another scenario's, still exiting) is not the
// one to check, and is named in a HOST-AFFINITY-IGNORED line instead.
func vcpuAffinity(limit time.Duration, want int) error {
	self, err := startTime("/proc/self")
	if err != nil {
		return err
	}
	ignored := map[string]bool{}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		comms, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/comm")
		var lines []string
		var gokvm string // /proc/PID of the scenario's gokvm
		for _, c := range comms {
			b, err := os.ReadFile(c)
			name := strings.TrimSpace(string(b))
			if err != nil || !strings.HasPrefix(name, "gokvm-vcpu") {
				continue
			}
			proc := filepath.Dir(filepath.Dir(filepath.Dir(c))) // /proc/PID
			if started, err := startTime(proc); err != nil || started < self {
				if !ignored[c] {
					ignored[c] = true
					cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
					fmt.Printf("HOST-AFFINITY-IGNORED %s in %s, running before this scenario: %s\n", name, proc,
						strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
				}
				continue
			}
			gokvm = proc
			status, err := os.ReadFile(filepath.Join(filepath.Dir(c), "status"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
					lines = append(lines, fmt.Sprintf("HOST-AFFINITY %s %s\n", name, strings.TrimSpace(v)))
				}
			}
		}
		if len(lines) >= want {
			fmt.Print(strings.Join(lines, ""))
			threadPolicies(gokvm)
			return nil
		}
	}
	return fmt.Errorf("%d gokvm vcpu threads did not appear within %v", want, limit)
}

// startTime is when the process at proc (/proc/PID) started, in clock
// ticks after boot (field 22 of its stat).
func startTime(proc string) (uint64, error) {
	return statField(filepath.Join(proc, "stat"), 22)
}

// schedPolicy is the scheduling policy of the thread at task
// (/proc/PID/task/TID): field 41 of its stat, 0 for SCHED_OTHER and 3 for
// SCHED_BATCH.
func schedPolicy(task string) (uint64, error) {
	return statField(filepath.Join(task, "stat"), 41)
}

// statField is field n (from 1) of a /proc stat file, a number.
func statField(path string, n int) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(s[i+1:]) // from field 3
	if len(f) < n-2 {
		return 0, fmt.Errorf("%s: %d fields", path, len(f)+2)
	}
	return strconv.ParseUint(f[n-3], 10, 64)
}

// threadPolicies prints the scheduling policy of each thread of the
// process at proc: HOST-SCHED gokvm-vcpu0 0 for each vcpu thread, and
// HOST-SCHED helpers 3 12 (policy, count) for the other threads.
func threadPolicies(proc string) {
	tasks, _ := filepath.Glob(filepath.Join(proc, "task", "[0-9]*"))
	helpers := map[uint64]int{}
	for _, task := range tasks {
		policy, err := schedPolicy(task)
		if err != nil {
			continue // ended since the list was read
		}
		b, _ := os.ReadFile(filepath.Join(task, "comm"))
		if name := strings.TrimSpace(string(b)); strings.HasPrefix(name, "gokvm-vcpu") {
			fmt.Printf("HOST-SCHED %s %d\n", name, policy)
		} else {
			helpers[policy]++
		}
	}
	for policy, n := range helpers {
		fmt.Printf("HOST-SCHED helpers %d %d\n", policy, n)
	}
}
