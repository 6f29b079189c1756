package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/harness"
	"github.com/gokvm/gokvm/e2e/scenario"
)

// slowRun is how long a run may take before its whole record is printed
// too, and when gokvm is first asked (SIGUSR1) where its vcpus are.
const slowRun = 30 * time.Second

// runRepeat boots the same guest n times in one emulated host (or directly)
// and prints each run's exit status and time, then the full record of every
// run that did not power off or was slow: a way to hunt rare hangs and
// stalls that one boot per test does not show. A slow run's gokvm is asked
// every 15 s where its vcpus are.
func runRepeat(b *harness.Build, host harness.Host, n int, args []string) int {
	var ss []scenario.Scenario
	for i := 0; i < n; i++ {
		s := scenario.Scenario{Name: fmt.Sprintf("run-%03d", i), Args: args, Timeout: 150 * time.Second}
		for at := slowRun; at < s.Timeout; at += 15 * time.Second {
			s.Signals = append(s.Signals, scenario.TimedSignal{After: at, Signal: syscall.SIGUSR1})
		}
		ss = append(ss, s)
	}
	var res map[string]scenario.Result
	if harness.Direct() {
		res = harness.RunDirect(b, ss)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*160*time.Second+2*time.Minute)
		defer cancel()
		var err error
		if res, err = harness.RunEmulated(ctx, b, host, ss, nil); err != nil {
			fmt.Fprintf(os.Stderr, "emuhost: %v\n", err)
		}
	}
	names := make([]string, 0, len(res))
	for name := range res {
		names = append(names, name)
	}
	sort.Strings(names)
	exits := map[int]int{}
	for _, name := range names {
		r := res[name]
		exits[r.Exit]++
		fmt.Printf("%s exit %d after %d ms\n", name, r.Exit, r.ElapsedMS)
	}
	for _, name := range names {
		r := res[name]
		if r.Exit != 0 || r.ElapsedMS > slowRun.Milliseconds() {
			var console strings.Builder
			for _, l := range r.Lines {
				fmt.Fprintf(&console, "%7d ms| %s\n", l.MS, l.Text)
			}
			fmt.Printf("\n=== %s: exit %d after %d ms\nconsole:\n%s\nstderr:\n%s\nnotes:\n%s\n", name, r.Exit, r.ElapsedMS, &console, r.Stderr, strings.Join(r.Notes, "\n"))
		}
	}
	fmt.Printf("\n%d of %d runs recorded; exit statuses: %v\n", len(res), n, exits)
	if exits[0] != n { // a run failed or was not recorded
		return 1
	}
	return 0
}
