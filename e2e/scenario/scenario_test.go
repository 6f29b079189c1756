package scenario

import (
	"testing"
	"time"
)

// TestTimedOut: a program the safety timeout ends is marked so, whatever
// its exit status says; one that ends by itself is not.
func TestTimedOut(t *testing.T) {
	dir := t.TempDir()
	hang := Run("", dir, dir, Scenario{Name: "hang", Program: "/bin/sh", Args: []string{"-c", "echo up; exec sleep 30"}, Timeout: 300 * time.Millisecond})
	if !hang.TimedOut || hang.Exit == 0 {
		t.Errorf("a hung program: TimedOut %v, exit %d", hang.TimedOut, hang.Exit)
	}
	if hang.Output() != "up\n" {
		t.Errorf("a hung program's output %q, want what it printed before", hang.Output())
	}
	quick := Run("", dir, dir, Scenario{Name: "quick", Program: "/bin/sh", Args: []string{"-c", "echo up; exit 3"}, Timeout: time.Minute})
	if quick.TimedOut || quick.Exit != 3 {
		t.Errorf("a program that exits 3: TimedOut %v, exit %d", quick.TimedOut, quick.Exit)
	}
}
