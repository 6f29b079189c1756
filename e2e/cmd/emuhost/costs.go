package main

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gokvm/gokvm/e2e/scenario"
	"github.com/gokvm/gokvm/vmm/kvmstats"
)

// What each request costs: the guest brackets each part of a workload
// (guestinit's phase actions), the scenario runner reads the VMM's
// counters as each bracket's line arrives (KVM's statistics from debugfs,
// the VMM's threads from /proc), and the guest says how many requests it
// completed and how many interrupts it took. The table shows, for each
// phase and VMM, the median over the runs of each kvmstats.Figure.

// phase is one bracketed part of a workload: its name, what a request is
// (guestinit: blk=DEV, net=IF, n=N) and the guest action it runs.
type phase struct {
	name, requests, action string
}

// phaseMarks are the console lines the runner samples the VMM's counters
// on.
var phaseMarks = []string{"GUEST-PHASE-BEGIN", "GUEST-PHASE-END"}

// emptyPhase measures what bracketing itself adds to each phase: the
// guest's quiet wait after the begin marker and the end marker.
var emptyPhase = phase{"empty", "n=1", ""}

// bracket is the guest actions for phases, each between its markers.
func bracket(phases []phase) string {
	var a []string
	for _, p := range phases {
		a = append(a, "phase:"+p.name+":"+p.requests)
		if p.action != "" {
			a = append(a, p.action)
		}
		a = append(a, "phase-end")
	}
	return strings.Join(a, ",")
}

var guestPhase = regexp.MustCompile(`GUEST-PHASE (\S+) requests (\d+) irq-virtio (\d+) irq-timer (\d+) irq-other (\d+)`)

// phaseCosts are each phase's counters in one run: the VMM's between its
// two samples (a counter one of them lacks is left out), and the guest's.
// problems are what the runner could not read.
func phaseCosts(r scenario.Result) (costs map[string]kvmstats.Counters, problems []string) {
	guest := map[string]kvmstats.Counters{}
	for _, l := range r.Lines {
		if m := guestPhase.FindStringSubmatch(l.Text); m != nil {
			c := kvmstats.Counters{}
			for i, k := range []string{"guest.requests", "guest.irq_virtio", "guest.irq_timer", "guest.irq_other"} {
				c[k], _ = strconv.ParseUint(m[i+2], 10, 64)
			}
			guest[m[1]] = c
		}
	}
	costs = map[string]kvmstats.Counters{}
	var begin *scenario.Sample
	name := ""
	for i := range r.Samples {
		s := &r.Samples[i]
		if s.Err != "" {
			problems = append(problems, s.Err)
		}
		// The guest waits 0.5 s after its begin marker (guestinit's
		// phaseQuiet): a slower reading may miss the workload's start.
		if s.TookMS > 250 {
			problems = append(problems, fmt.Sprintf("reading the counters on %q took %d ms", s.Line, s.TookMS))
		}
		if _, rest, ok := strings.Cut(s.Line, "GUEST-PHASE-BEGIN "); ok && len(strings.Fields(rest)) > 0 {
			begin, name = s, strings.Fields(rest)[0]
			continue
		}
		if !strings.Contains(s.Line, "GUEST-PHASE-END") || begin == nil {
			continue
		}
		d := s.Counters.Sub(begin.Counters)
		for k := range d {
			if _, ok := begin.Counters[k]; !ok {
				delete(d, k)
			}
		}
		d.Add(guest[name])
		costs[name] = d
		begin = nil
	}
	return costs, problems
}

// printCosts prints the per-request table of a workload with phases:
// a row per figure, a column per phase and VMM.
func (w *workload) printCosts(columns []string, res map[string]scenario.Result) {
	if len(w.phases) == 0 {
		return
	}
	// costs[column][phase] are the phase's counters over the runs.
	costs := map[string]map[string][]kvmstats.Counters{}
	for _, c := range columns {
		costs[c] = map[string][]kvmstats.Counters{}
		for _, n := range w.runs[c] {
			pc, problems := phaseCosts(res[n])
			for p, d := range pc {
				costs[c][p] = append(costs[c][p], d)
			}
			if len(problems) > 0 {
				fmt.Fprintf(os.Stderr, "run %s: counters: %s\n", n, strings.Join(dedupe(problems), "; "))
			}
		}
	}
	fmt.Printf("What each request cost (medians over the runs; %s)\n\n", w.requestNote)
	fmt.Printf("| %-66s |", "per request")
	for _, p := range w.phases {
		for _, c := range columns {
			fmt.Printf(" %s %s |", p.name, c)
		}
	}
	fmt.Printf("\n|%s|", strings.Repeat("-", 68))
	for _, p := range w.phases {
		for _, c := range columns {
			fmt.Printf("%s|", strings.Repeat("-", len(p.name)+len(c)+3))
		}
	}
	fmt.Println()
	for _, f := range kvmstats.Figures {
		var cells []string
		shown := false
		for _, p := range w.phases {
			for _, c := range columns {
				var vals []float64
				for _, d := range costs[c][p.name] {
					if v, ok := f.Of(d); ok {
						vals = append(vals, v)
					}
				}
				cell := "-"
				if len(vals) > 0 {
					cell, shown = formatCost(median(vals)), true
				}
				cells = append(cells, fmt.Sprintf(" %*s |", len(p.name)+len(c)+1, cell))
			}
		}
		if shown {
			fmt.Printf("| %-66s |%s\n", f.Name, strings.Join(cells, ""))
		}
	}
	fmt.Println()
}

// formatCost shows a figure with about three significant digits.
func formatCost(v float64) string {
	switch a := max(v, -v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
