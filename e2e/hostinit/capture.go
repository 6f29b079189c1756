package main

import (
	"os"
	"os/exec"
)

// capture runs a program with its standard output in a file: a scenario
// step that keeps what gokvm printed (--print-config) for a later step.
func capture(out string, argv []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	return f.Close()
}
