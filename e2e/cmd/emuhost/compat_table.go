package main

import (
	"fmt"
	"strings"
)

// The part of `make compat` (compat.go) that needs no KVM: judging one run
// from what its guest printed and its exit status, and laying the rows out
// as a markdown table.

// compatExpect is what a passing run of a case shows.
type compatExpect struct {
	// markers must each start a console line (after carriage returns),
	// so that a kernel echoing its command line, which names the
	// guest's actions, does not count.
	markers []string
	// forbidden, when set, fails a run with a line starting with it: the
	// guest's own report that something was wrong.
	forbidden string
	// kvmtoolExit and gokvmExit are the exit statuses each VMM gives
	// the case's ending: they differ for a reset, which kvmtool reports
	// as a power-off (docs/kvmtool.md).
	kvmtoolExit, gokvmExit int
}

// compatOutcome is what one VMM's run of one case showed.
type compatOutcome struct {
	exit      int
	wantExit  int
	missing   []string // markers the console lacked
	forbidden bool     // the console had the forbidden line
	timedOut  bool     // killed after the run's time limit
	lost      bool     // no result came back (the host stopped first)
}

// judgeRun judges a run from its console output, its exit status and
// whether the time limit killed it; peer picks kvmtool's exit status in
// expect rather than gokvm's.
func judgeRun(console string, exit int, timedOut bool, expect compatExpect, peer bool) compatOutcome {
	o := compatOutcome{exit: exit, wantExit: expect.gokvmExit, timedOut: timedOut}
	if peer {
		o.wantExit = expect.kvmtoolExit
	}
	starts := map[string]bool{}
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimLeft(line, "\r")
		for _, m := range expect.markers {
			if strings.HasPrefix(line, m) {
				starts[m] = true
			}
		}
		if expect.forbidden != "" && strings.HasPrefix(line, expect.forbidden) {
			o.forbidden = true
		}
	}
	for _, m := range expect.markers {
		if !starts[m] {
			o.missing = append(o.missing, m)
		}
	}
	return o
}

// passed: the guest printed every marker and no forbidden line, and the
// VMM ended by itself with the status it gives that ending.
func (o compatOutcome) passed() bool {
	return !o.lost && !o.timedOut && len(o.missing) == 0 && !o.forbidden && o.exit == o.wantExit
}

// String is the table cell: "pass (exit 0)", or FAIL and every reason.
func (o compatOutcome) String() string {
	if o.lost {
		return "FAIL: no result (the host stopped before this run)"
	}
	if o.passed() {
		return fmt.Sprintf("pass (exit %d)", o.exit)
	}
	var why []string
	if o.timedOut {
		why = append(why, "killed at the time limit")
	} else if o.exit != o.wantExit {
		why = append(why, fmt.Sprintf("exit %d, want %d", o.exit, o.wantExit))
	}
	for _, m := range o.missing {
		why = append(why, "no `"+m+"`")
	}
	if o.forbidden {
		why = append(why, "the guest reported a failure")
	}
	return "FAIL: " + strings.Join(why, "; ")
}

// compatRow is one case run under both VMMs.
type compatRow struct {
	name, cmdline, note string
	kvmtool, gokvm      compatOutcome
}

// gokvmRegresses reports a case kvmtool passes and gokvm does not: the
// one outcome `make compat` fails on.
func (r compatRow) gokvmRegresses() bool {
	return r.kvmtool.passed() && !r.gokvm.passed()
}

// escapeCell keeps a value from breaking the markdown table.
func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// compatTable lays the rows out as a markdown table, a regression marked
// in its note.
func compatTable(rows []compatRow) string {
	var b strings.Builder
	b.WriteString("| case | `lkvm run` / `gokvm run` options | kvmtool | gokvm | note |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, r := range rows {
		note := r.note
		if r.gokvmRegresses() {
			note = "**gokvm fails what kvmtool passes**; " + note
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n",
			escapeCell(r.name), escapeCell(r.cmdline), escapeCell(r.kvmtool.String()), escapeCell(r.gokvm.String()), escapeCell(note))
	}
	return b.String()
}
