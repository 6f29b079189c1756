package main

import (
	"log"
	"strings"
)

// logWriter sends each line written to it through a logger, so multi-line
// reports (a vcpu dump) carry the same "gokvm: " prefix as every message.
type logWriter struct{ l *log.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.l.Print(line)
	}
	return len(p), nil
}
