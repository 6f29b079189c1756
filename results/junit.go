package results

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The JUnit XML that GitLab's unit test reports and GitHub's JUnit
// actions read: testsuites > testsuite > testcase, a testcase failing with
// <failure>, erring with <error>, skipped with <skipped>, its output in
// <system-out>. testdata/junit.xsd is the schema the tests hold it to.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Cases     []junitCase `xml:"testcase"`
	SystemOut *junitText  `xml:"system-out"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitSkipped `xml:"skipped"`
	Failure   *junitResult  `xml:"failure"`
	Error     *junitResult  `xml:"error"`
	SystemOut *junitText    `xml:"system-out"`
}

type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// junitText is character data written as CDATA, so a report's lines stay
// lines in the file (encoding/xml splits a "]]>" in it).
type junitText struct {
	Text string `xml:",cdata"`
}

func jtime(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

func jtext(lines []string, dropped int) *junitText {
	if len(lines) == 0 && dropped == 0 {
		return nil
	}
	s := strings.Join(lines, "\n")
	if dropped > 0 {
		s += fmt.Sprintf("\n(%d more lines not kept)", dropped)
	}
	return &junitText{Text: xmlText(s)}
}

// WriteJUnit writes the document as JUnit XML: a testsuite for each
// top-level test with subtests (KUnit's suites), one named "tests" for
// the top-level tests without (a kselftest run's), one named "kernel"
// with a testcase for each problem signature, and one named "gokvm" with
// the testcase "gokvm.outcome", which fails unless the VM powered off (or
// the sandbox command exited 0).
func (d *Document) WriteJUnit(w io.Writer) error {
	root := junitSuites{Name: xmlText(d.Name), Time: jtime(d.DurationS)}
	var leaves []*Test
	for _, t := range d.Tests {
		if len(t.Subtests) == 0 {
			leaves = append(leaves, t)
			continue
		}
		root.Suites = append(root.Suites, junitTestSuite(t))
	}
	if len(leaves) > 0 {
		s := junitSuite{Name: "tests"}
		for _, t := range leaves {
			s.Cases = append(s.Cases, junitTestCase(t, "tests"))
		}
		root.Suites = append(root.Suites, s)
	}
	if len(d.Signatures) > 0 {
		root.Suites = append(root.Suites, d.junitKernel())
	}
	root.Suites = append(root.Suites, d.junitOutcome())

	for i := range root.Suites {
		s := &root.Suites[i]
		s.Tests = len(s.Cases)
		var total float64
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
			f, _ := strconv.ParseFloat(c.Time, 64)
			total += f
		}
		if s.Time == "" {
			s.Time = jtime(total)
		}
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Errors += s.Errors
		root.Skipped += s.Skipped
	}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("results: writing JUnit XML: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("results: writing JUnit XML: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("results: writing JUnit XML: %w", err)
	}
	return nil
}

// junitTestSuite flattens a suite's tree into test cases: a leaf is a
// case whose classname is the suite and the tests between; a parent is a
// case only when it failed and none of its subtests did (a suite whose
// init failed), so no failure is lost and none counted twice.
func junitTestSuite(top *Test) junitSuite {
	name := testName(top)
	s := junitSuite{Name: xmlText(name), Time: jtime(top.DurationS)}
	var out []string
	var rec func(t *Test, class string)
	rec = func(t *Test, class string) {
		for _, c := range t.Subtests {
			if len(c.Subtests) == 0 {
				s.Cases = append(s.Cases, junitTestCase(c, class))
				continue
			}
			rec(c, class+"."+testName(c))
			if c.Status.Failed() && !anyFailed(c.Subtests) {
				s.Cases = append(s.Cases, junitTestCase(&Test{Name: c.Name, Number: c.Number, Status: c.Status,
					Directive: c.Directive, Reason: c.Reason, DurationS: c.DurationS,
					Diagnostics: c.Diagnostics, DroppedDiagnostics: c.DroppedDiagnostics}, class))
			} else {
				out = append(out, c.Diagnostics...)
			}
		}
	}
	rec(top, name)
	if top.Status.Failed() && !anyFailed(top.Subtests) {
		s.Cases = append(s.Cases, junitTestCase(&Test{Name: top.Name, Number: top.Number, Status: top.Status,
			Directive: top.Directive, Reason: top.Reason, DurationS: top.DurationS,
			Diagnostics: top.Diagnostics, DroppedDiagnostics: top.DroppedDiagnostics}, name))
	} else {
		out = append(out, top.Diagnostics...)
	}
	s.SystemOut = jtext(out, 0)
	return s
}

func anyFailed(ts []*Test) bool {
	failed := false
	walk(ts, func(t *Test, _ []*Test) { failed = failed || t.Status.Failed() })
	return failed
}

func testName(t *Test) string {
	if t.Name != "" {
		return t.Name
	}
	return "test " + strconv.Itoa(t.Number)
}

// junitTestCase is one test as a case: a failure's or error's output is
// the text of its <failure> or <error> (GitLab shows that text as the
// case's output), anything else's its <system-out>.
func junitTestCase(t *Test, class string) junitCase {
	c := junitCase{Name: xmlText(testName(t)), Classname: xmlText(class), Time: jtime(t.DurationS)}
	msg := t.Reason
	if t.Directive != "" {
		msg = strings.TrimSpace(t.Directive + " " + t.Reason)
	}
	out := jtext(t.Diagnostics, t.DroppedDiagnostics)
	text := ""
	if out != nil {
		text = out.Text
	}
	switch t.Status {
	case StatusFail:
		if msg == "" {
			msg = "not ok"
		}
		c.Failure = &junitResult{Message: xmlText(msg), Type: "fail", Text: text}
	case StatusError:
		if msg == "" {
			msg = "error"
		}
		c.Error = &junitResult{Message: xmlText(msg), Type: "error", Text: text}
	case StatusSkip, StatusTodo:
		c.Skipped = &junitSkipped{Message: xmlText(msg)}
		c.SystemOut = out
	default:
		if t.Status == StatusXfail {
			// Expected to fail and did: a pass, said so.
			out = jtext(append([]string{msg}, t.Diagnostics...), t.DroppedDiagnostics)
		}
		c.SystemOut = out
	}
	return c
}

// junitKernel is the kernel's problems: one failing case for each
// signature, its first report as the failure's text.
func (d *Document) junitKernel() junitSuite {
	s := junitSuite{Name: "kernel"}
	for _, sig := range d.Signatures {
		c := junitCase{Name: xmlText(sig.Signature), Classname: "kernel", Time: jtime(0)}
		var lines []string
		lines = append(lines, "kind: "+sig.Kind, fmt.Sprintf("count: %d", sig.Count))
		dropped := 0
		if sig.FirstProblem >= 0 && sig.FirstProblem < len(d.Problems) {
			p := d.Problems[sig.FirstProblem]
			c.File = xmlText(p.File)
			if p.During != "" {
				lines = append(lines, "during: "+p.During)
			}
			if p.Fatal {
				lines = append(lines, "fatal: yes")
			}
			lines = append(lines, "")
			lines = append(lines, p.Report...)
			dropped = p.DroppedLines
		}
		msg := sig.Signature
		if sig.Count > 1 {
			msg += fmt.Sprintf(" (%d times)", sig.Count)
		}
		c.Failure = &junitResult{Message: xmlText(msg), Type: sig.Kind, Text: jtext(lines, dropped).Text}
		s.Cases = append(s.Cases, c)
	}
	return s
}

// junitOutcome is the VM's outcome as a case.
func (d *Document) junitOutcome() junitSuite {
	c := junitCase{Name: "gokvm.outcome", Classname: "gokvm", Time: jtime(d.DurationS)}
	lines := d.summaryLines()
	if d.OutcomePassed() {
		c.SystemOut = jtext(lines, 0)
	} else {
		lines = append(lines, d.hangLines()...)
		if len(d.ConsoleTail) > 0 {
			lines = append(lines, "", "console tail:")
			lines = append(lines, d.ConsoleTail...)
		}
		c.Failure = &junitResult{Message: xmlText("outcome: " + d.outcomeText()), Type: "outcome",
			Text: jtext(lines, 0).Text}
	}
	return junitSuite{Name: "gokvm", Cases: []junitCase{c}}
}

// summaryLines say the run's outcome, times and what was dropped.
func (d *Document) summaryLines() []string {
	lines := []string{"outcome: " + d.outcomeText(), "duration: " + jtime(d.DurationS) + "s"}
	if d.Error != "" {
		lines = append(lines, "error: "+d.Error)
	}
	if d.BootS != nil {
		lines = append(lines, "boot to init: "+jtime(*d.BootS)+"s")
	}
	if d.Dropped != (Dropped{}) {
		lines = append(lines, fmt.Sprintf("dropped: %+v", d.Dropped))
	}
	return lines
}

// hangLines say a hang diagnosis.
func (d *Document) hangLines() []string {
	var lines []string
	for _, h := range d.Hangs {
		lines = append(lines, fmt.Sprintf("vcpu %d: pc %s", h.VCPU, h.PC))
		for _, f := range h.Frames {
			lines = append(lines, "  "+f)
		}
	}
	return lines
}
