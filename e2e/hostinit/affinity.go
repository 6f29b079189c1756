package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// vcpuAffinity waits (up to limit) until want vcpu threads (named
// gokvm-vcpuN) exist and prints each one's allowed CPUs as /proc says:
// HOST-AFFINITY gokvm-vcpu0 1.
func vcpuAffinity(limit time.Duration, want int) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		comms, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/comm")
		var lines []string
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
					lines = append(lines, fmt.Sprintf("HOST-AFFINITY %s %s\n", name, strings.TrimSpace(v)))
				}
			}
		}
		if len(lines) >= want {
			fmt.Print(strings.Join(lines, ""))
			return nil
		}
	}
	return fmt.Errorf("%d gokvm vcpu threads did not appear within %v", want, limit)
}
