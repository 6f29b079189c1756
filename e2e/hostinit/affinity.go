package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// vcpuAffinity waits (up to limit) for a gokvm process with vcpu threads
// (named gokvm-vcpuN) and prints each one's allowed CPUs as /proc says:
// HOST-AFFINITY gokvm-vcpu0 1.
func vcpuAffinity(limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		comms, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/comm")
		found := 0
		for _, c := range comms {
			b, err := os.ReadFile(c)
			name := strings.TrimSpace(string(b))
			if err != nil || !strings.HasPrefix(name, "gokvm-vcpu") {
				continue
			}
			status, err := os.ReadFile(filepath.Join(filepath.Dir(c), "status"))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
					fmt.Printf("HOST-AFFINITY %s %s\n", name, strings.TrimSpace(v))
					found++
				}
			}
		}
		if found > 0 {
			return nil
		}
	}
	return fmt.Errorf("no gokvm vcpu thread appeared within %v", limit)
}
