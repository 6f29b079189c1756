package results

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJUnitSchema validates every golden .xml against testdata/junit.xsd,
// the JUnit shape GitLab documents, with xmllint (Debian's
// libxml2-utils, which make deps installs). CI must have it; elsewhere
// the test says how to get it and skips.
func TestJUnitSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint is not installed: CI needs it (apt-get install libxml2-utils; make deps does)")
		}
		t.Skip("xmllint is not installed (apt-get install libxml2-utils, or make deps): the JUnit goldens are not validated against testdata/junit.xsd")
	}
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) == 0 {
		t.Fatal("no golden .xml files in testdata")
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", "testdata/junit.xsd"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
	// A file xmllint could not read would not fail it; every one says it
	// validates.
	if n := strings.Count(string(out), " validates"); n != len(files) {
		t.Errorf("xmllint validated %d of %d files:\n%s", n, len(files), out)
	}
}

// TestJUnitOutcome: gokvm.outcome fails unless the VM powered off, or the
// sandbox command exited 0 when there is one.
func TestJUnitOutcome(t *testing.T) {
	for _, c := range []struct {
		outcome string
		status  int
		pass    bool
	}{
		{OutcomePoweroff, -1, true},
		{OutcomeReset, -1, false},
		{OutcomePanic, -1, false},
		{OutcomeTimeout, -1, false},
		{OutcomeUnknown, -1, false},
		{OutcomePoweroff, 0, true},
		{OutcomePoweroff, 3, false},
		{OutcomeStopped, 0, true},
	} {
		d := NewParser(Options{Clock: fakeClock()}).Finish()
		d.SetOutcome(c.outcome)
		if c.status >= 0 {
			d.SetCommandStatus(c.status)
		}
		var got struct {
			Suites []struct {
				Name  string `xml:"name,attr"`
				Cases []struct {
					Name    string    `xml:"name,attr"`
					Failure *struct{} `xml:"failure"`
				} `xml:"testcase"`
			} `xml:"testsuite"`
		}
		if err := xml.Unmarshal(render(t, d, JUnit), &got); err != nil {
			t.Fatal(err)
		}
		last := got.Suites[len(got.Suites)-1]
		if last.Name != "gokvm" || len(last.Cases) != 1 || last.Cases[0].Name != "gokvm.outcome" {
			t.Fatalf("%s/%d: no gokvm.outcome case last: %+v", c.outcome, c.status, got)
		}
		if pass := last.Cases[0].Failure == nil; pass != c.pass || d.OutcomePassed() != c.pass {
			t.Errorf("%s, status %d: passes %v (OutcomePassed %v), want %v", c.outcome, c.status, pass, d.OutcomePassed(), c.pass)
		}
	}
}

// TestXMLText: whatever bytes come in, the XML decodes, without the
// characters XML 1.0 forbids and with invalid UTF-8 as U+FFFD.
func TestXMLText(t *testing.T) {
	in := "a\x00b\x07c\x1bd\xffe\tf\r\ng\ufffeh]]>i\xed\xa0\x80j"
	d := &Document{Name: in, Outcome: in, Tests: []*Test{{Name: in, Status: StatusFail, Reason: in, Diagnostics: []string{in}}}}
	b := render(t, d, JUnit)
	dec := xml.NewDecoder(bytes.NewReader(b))
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("decoding: %v\n%s", err, b)
			}
			break
		}
		if cd, ok := tok.(xml.CharData); ok {
			text.Write(cd)
		}
	}
	if s := text.String(); !strings.Contains(s, "abcd\ufffde\tf\n") || !strings.Contains(s, "gh]]>i\ufffd\ufffd\ufffdj") {
		t.Errorf("text %q", s)
	}
}
