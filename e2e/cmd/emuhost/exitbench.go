package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/internal/tinyguest"
)

// The exits workload times one MMIO exit to each VMM and back: both boot
// internal/tinyguest's exit-loop guest, a flat payload that reads the
// 16550 UART's scratch register exitLoopReads times between two console
// lines. Every I/O request costs the guest a few such exits (a
// virtio-mmio interrupt's status read and acknowledgement), so this is
// the part of a request's cost that is each VMM's vcpu loop.

const (
	exitLoopFile = "exitloop.flat"
	exitLoopTag  = "exits"
)

// exitLoopReads is how many reads the exit-loop guest makes: about 1.7 s
// of exits in the emulated host, and on a real arm64 host (a few
// microseconds an exit) enough that the console lines' millisecond
// timestamps are well below a percent of the loop. The end line's own
// exits (a few dozen) are inside the loop's time.
func exitLoopReads() uint32 {
	if harness.Direct() {
		return 1_000_000
	}
	return 20_000
}

// prepareExits puts the exit-loop guest into the guest directory.
func (c *benchConfig) prepareExits() error {
	code, err := tinyguest.ExitLoop(exitLoopTag, arm64.PlatformBase, exitLoopReads())
	if err != nil {
		return fmt.Errorf("assembling the exit-loop guest: %w", err)
	}
	return os.WriteFile(filepath.Join(c.build.GuestDir, exitLoopFile), code, 0o644)
}

// perExit is a run's time between the loop's two lines over its reads, in
// microseconds.
func perExit(reads uint32) func(scenario.Result) (float64, bool) {
	return func(r scenario.Result) (float64, bool) {
		start := r.LineMS(tinyguest.ExitLoopLine(exitLoopTag, "loop-start"))
		end := r.LineMS(tinyguest.ExitLoopLine(exitLoopTag, "loop-end"))
		if start < 0 || end < start || r.Exit != 0 {
			return 0, false
		}
		return float64(end-start) * 1000 / float64(reads), true
	}
}

func (c *benchConfig) exitsWorkload() (*workload, []scenario.Scenario) {
	w := &workload{
		title: fmt.Sprintf("a guest's MMIO read of a UART register, served by the VMM's vcpu loop: %d reads a run, 1 vcpu, %d runs each", exitLoopReads(), c.rounds),
		runs:  map[string][]string{},
		figs:  []figure{{"an MMIO exit to the VMM and back", "us", false, perExit(exitLoopReads())}},
	}
	// gokvm also runs without its system call filter: every KVM_RUN
	// passes through it, so the column apart says what it costs an exit.
	const unfiltered = "gokvm --seccomp off"
	var ss []scenario.Scenario
	for i := 0; i < c.rounds; i++ {
		for _, v := range c.roundOrder(i) {
			args := []string{"run", "-k", "$GUEST/" + exitLoopFile, "-m", "256", "-c", "1"}
			s := scenario.Scenario{Name: fmt.Sprintf("%s-exits-%d", v.label, i), Timeout: 5 * time.Minute}
			if v.peer {
				args = append(args, "--irqchip", fmt.Sprintf("gicv%d", c.host.GIC))
				s.Program, s.Args = peerCommand(c.tool, c.peerBin, args)
			} else {
				s.Args = args
				off := s
				off.Name = fmt.Sprintf("%s-exits-noseccomp-%d", v.label, i)
				off.Args = append(append([]string{}, args...), "--seccomp", "off")
				ss = append(ss, off)
				w.runs[unfiltered] = append(w.runs[unfiltered], off.Name)
			}
			ss = append(ss, s)
			w.runs[v.label] = append(w.runs[v.label], s.Name)
		}
	}
	for _, v := range c.vmms {
		w.columns = append(w.columns, v.label)
	}
	w.columns = append(w.columns, unfiltered)
	return w, ss
}
