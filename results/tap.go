package results

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteTAP writes the document as TAP version 14: the test tree (subtests
// indented four spaces under a "# Subtest:" line, renumbered so numbers
// run 1..N at every level), then a failing test "kernel: <signature>" for
// each problem signature with its first report as diagnostics, then
// "gokvm.outcome". Test output is "# " diagnostics before the test line.
func (d *Document) WriteTAP(w io.Writer) error {
	bw := bufio.NewWriter(w)
	n := len(d.Tests) + len(d.Signatures) + 1
	fmt.Fprintf(bw, "TAP version 14\n1..%d\n", n)
	i := 0
	for _, t := range d.Tests {
		i++
		tapTest(bw, t, i, "")
	}
	for _, sig := range d.Signatures {
		i++
		tapDiag(bw, "", []string{"kind: " + sig.Kind, fmt.Sprintf("count: %d", sig.Count)})
		if sig.FirstProblem >= 0 && sig.FirstProblem < len(d.Problems) {
			p := d.Problems[sig.FirstProblem]
			if p.During != "" {
				tapDiag(bw, "", []string{"during: " + p.During})
			}
			tapDiag(bw, "", p.Report)
			if p.DroppedLines > 0 {
				tapDiag(bw, "", []string{fmt.Sprintf("(%d more lines not kept)", p.DroppedLines)})
			}
		}
		fmt.Fprintf(bw, "not ok %d - %s\n", i, tapName("kernel: "+sig.Signature))
	}
	i++
	lines := d.summaryLines()
	if !d.OutcomePassed() {
		lines = append(lines, d.hangLines()...)
		if len(d.ConsoleTail) > 0 {
			lines = append(lines, "console tail:")
			lines = append(lines, d.ConsoleTail...)
		}
	}
	tapDiag(bw, "", lines)
	ok := "ok"
	if !d.OutcomePassed() {
		ok = "not ok"
	}
	fmt.Fprintf(bw, "%s %d - gokvm.outcome # %s\n", ok, i, tapName(d.outcomeText()))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("results: writing TAP: %w", err)
	}
	return nil
}

func tapTest(w *bufio.Writer, t *Test, n int, indent string) {
	if len(t.Subtests) > 0 {
		sub := indent + "    "
		fmt.Fprintf(w, "%s# Subtest: %s\n%s1..%d\n", sub, lineText(testName(t)), sub, len(t.Subtests))
		for i, c := range t.Subtests {
			tapTest(w, c, i+1, sub)
		}
	}
	tapDiag(w, indent, t.Diagnostics)
	if t.DroppedDiagnostics > 0 {
		tapDiag(w, indent, []string{fmt.Sprintf("(%d more lines not kept)", t.DroppedDiagnostics)})
	}
	ok := "ok"
	if t.Status == StatusFail || t.Status == StatusError || t.Status == StatusTodo {
		// TODO keeps its "not ok": the directive is what excuses it.
		ok = "not ok"
	}
	line := fmt.Sprintf("%s%s %d - %s", indent, ok, n, tapName(testName(t)))
	dir := t.Directive
	switch t.Status {
	case StatusSkip:
		dir = "SKIP"
	case StatusTodo:
		dir = "TODO"
	case StatusXfail:
		dir = "XFAIL"
	case StatusError:
		if dir == "" {
			dir = "ERROR"
		}
	}
	if dir != "" || t.Reason != "" {
		line += " # " + strings.TrimSpace(dir+" "+tapName(t.Reason))
	}
	w.WriteString(line + "\n")
}

func tapDiag(w *bufio.Writer, indent string, lines []string) {
	for _, l := range lines {
		w.WriteString(indent + "# " + lineText(l) + "\n")
	}
}

// tapName escapes a description: '#' would start a directive, so it and
// the escaping backslash are escaped as TAP 14 says.
func tapName(s string) string {
	s = lineText(s)
	if strings.ContainsAny(s, `#\`) {
		s = strings.NewReplacer(`\`, `\\`, `#`, `\#`).Replace(s)
	}
	return s
}
