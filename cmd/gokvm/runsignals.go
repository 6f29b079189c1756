package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/gokvm/gokvm/machine"
)

// runSignals are the signals that end or inspect a running guest, for
// `run` and `sandbox` alike: env's (a test's), or the process's own
// SIGINT, SIGTERM and SIGUSR1, until release.
func runSignals(env Env) (sigs <-chan os.Signal, release func()) {
	if env.Signals != nil {
		return env.Signals, func() {}
	}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	return ch, func() { signal.Stop(ch) }
}

// watchRun stops the run (stop) at SIGINT or SIGTERM or at the console's
// escape, and dumps the vcpus' registers to the log at each SIGUSR1,
// until ctx ends. stopped is called with the signal that stopped it
// before stop is.
func watchRun(ctx context.Context, sigs <-chan os.Signal, escaped <-chan struct{}, m *machine.Machine, logger *log.Logger, stopped func(os.Signal), stop func()) {
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGUSR1 {
					m.DumpVcpus(machine.LogWriter{L: logger})
					continue
				}
				stopped(sig)
				logger.Printf("%v: stopping the guest", sig)
				stop()
			case <-escaped:
				stop()
			case <-ctx.Done():
			}
			return
		}
	}()
}

// logStats prints a run's --stats lines once the guest stopped: the
// machine's figures, each device's, then extra (the command's own).
func logStats(logger *log.Logger, m *machine.Machine, extra ...string) {
	for _, line := range statsLines(m.Stats()) {
		logger.Printf("stats: %s", line)
	}
	for _, line := range m.DeviceStats() {
		logger.Printf("stats: %s", line)
	}
	for _, line := range extra {
		logger.Printf("stats: %s", line)
	}
}
