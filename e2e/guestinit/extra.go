package main

import "fmt"

// runExtra handles actions added by later features (disks, networks).
func runExtra(action string) error {
	return fmt.Errorf("unknown action %q", action)
}
