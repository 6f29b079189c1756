package main

import (
	"fmt"
	"strings"
)

// `make compat` runs the same payloads under kvmtool's lkvm and gokvm in one
// emulated host and prints a markdown table. This file holds the part that
// needs no KVM: judging one run from what the guest printed and laying the
// rows out. A run passes only if the guest printed its marker line; the exit
// status is reported beside it but never decides on its own, because kvmtool
// and gokvm say different things about a reboot or a panic by design.

// compatOutcome is what one VMM run of one payload showed.
type compatOutcome struct {
	exit   int  // the VMM's exit status
	marker bool // the guest printed the expected marker line
}

// judgeRun reads a VMM's combined output for the marker line. The marker
// must start a line (after optional carriage returns), so a kernel echoing
// its command line, which contains the marker text, does not count.
func judgeRun(output string, exit int, marker string) compatOutcome {
	found := false
	for _, line := range strings.Split(output, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, "\r"), marker) {
			found = true
			break
		}
	}
	return compatOutcome{exit: exit, marker: found}
}

// String is the table cell: exit status and whether the marker appeared.
func (o compatOutcome) String() string {
	m := "marker missing"
	if o.marker {
		m = "marker printed"
	}
	return fmt.Sprintf("exit %d, %s", o.exit, m)
}

// compatRow is one payload run under both VMMs.
type compatRow struct {
	payload string
	cmdline string // the kvmtool-style options both were given
	kvmtool compatOutcome
	gokvm   compatOutcome
	// exitMayDiffer marks payloads (reboot, panic) where kvmtool's exit
	// status differs from gokvm's by design; only the marker is compared.
	exitMayDiffer bool
}

// verdict is "same" when both VMMs agree on the guest's outcome.
func (r compatRow) verdict() string {
	if r.kvmtool.marker != r.gokvm.marker {
		return "differs"
	}
	if !r.exitMayDiffer && r.kvmtool.exit != r.gokvm.exit {
		return "differs"
	}
	if r.exitMayDiffer && r.kvmtool.exit != r.gokvm.exit {
		return "same (exit status differs by design)"
	}
	return "same"
}

// gokvmRegresses reports a payload kvmtool passes and gokvm does not: the
// one outcome `make compat` fails on.
func (r compatRow) gokvmRegresses() bool {
	return r.kvmtool.marker && !r.gokvm.marker
}

// escapeCell keeps a value from breaking the markdown table.
func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// compatTable lays the rows out as a markdown table.
func compatTable(rows []compatRow) string {
	var b strings.Builder
	b.WriteString("| payload | command line | kvmtool | gokvm | verdict |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n",
			escapeCell(r.payload), escapeCell(r.cmdline), r.kvmtool, r.gokvm, r.verdict())
	}
	return b.String()
}
