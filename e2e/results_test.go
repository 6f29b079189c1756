package e2e

import (
	"encoding/json"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/scenario"
	cires "github.com/gokvm/gokvm/results"
)

// The results scenarios (issue 21): what a CI system reads from
// --results, for a kernel panic, a kernel WARNING raised twice (two
// boots), a kselftest-style TAP run, and a guest hung past its timeout
// diagnosed with --symbols. One GIC host: nothing here depends on it.
func init() {
	extraScenarios = append(extraScenarios, func(host string) []scenario.Scenario {
		if host == "gicv2" {
			return nil
		}
		warn := func(name string) scenario.Scenario {
			// quiet keeps a WARNING (KERN_WARNING) off the console;
			// loglevel=5, after it, lets it through.
			args := bootArgs("marker,modules:gokvm_warn,poweroff", "--results", "$WORK/results.json", "--bisect-status")
			args[6] += " loglevel=5"
			return scenario.Scenario{Name: name, Args: args, Collect: []string{"$WORK/results.json"}}
		}
		return []scenario.Scenario{
			{Name: "results-panic", Args: bootArgs("marker,panic", "--results", "$WORK/results.json", "--bisect-status"),
				Collect: []string{"$WORK/results.json"}},
			warn("results-warn-1"), warn("results-warn-2"),
			{Name: "results-tap", Args: bootArgs("marker,tap,poweroff", "--results", "$WORK/results.xml"),
				Collect: []string{"$WORK/results.xml"}},
			// A sandboxed command printing TAP with a failure, exiting
			// 0: its tests are in the document, and bisect says bad.
			{Name: "results-sandbox", Args: sandboxArgs("--results", "$WORK/results.json", "--bisect-status", "--",
				"sh", "-c", `printf 'TAP version 13\n1..2\nok 1 - first\nnot ok 2 - second\n'`),
				Collect: []string{"$WORK/results.json"}, Timeout: 150 * time.Second},
			{Name: "results-hang", Args: bootArgs("marker,hang", "-c", "2", "--timeout", "10s",
				"--symbols", "$GUEST/System.map", "--results", "$WORK/results.json"),
				Collect: []string{"$WORK/results.json"}, Timeout: 90 * time.Second},
		}
	})
}

// resultsDoc reads the JSON results a scenario collected.
func resultsDoc(t *testing.T, r scenario.Result) *cires.Document {
	t.Helper()
	b := r.Files["$WORK/results.json"]
	if len(b) == 0 {
		t.Fatalf("%s wrote no results file (exit %d):\n%s", r.Name, r.Exit, r.Stderr)
	}
	var d cires.Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: the results file is not JSON: %v\n%s", r.Name, err, b)
	}
	return &d
}

func signatures(d *cires.Document) []string {
	var out []string
	for _, s := range d.Signatures {
		out = append(out, s.Signature)
	}
	return out
}

// TestResultsPanic: a guest that panics gives outcome panic, the panic's
// signature, and git bisect's "bad" status (1).
func TestResultsPanic(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "results-panic")
		d := resultsDoc(t, r)
		if d.Outcome != "panic" {
			t.Errorf("outcome %q, want panic", d.Outcome)
		}
		if sigs := signatures(d); len(sigs) != 1 || sigs[0] != "kernel panic: sysrq triggered crash" {
			t.Errorf("signatures %q, want [kernel panic: sysrq triggered crash]", sigs)
		}
		if r.Exit != 1 {
			t.Errorf("exit status %d with --bisect-status after a panic, want 1", r.Exit)
		}
	})
}

// TestResultsWarningSignature: a module raising a WARNING gives the same
// signature on two boots (other addresses, times and PIDs), and makes the
// run bad for git bisect though the guest powered off.
func TestResultsWarningSignature(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		var got []string
		for _, name := range []string{"results-warn-1", "results-warn-2"} {
			r := result(t, h, name)
			if !strings.Contains(r.Output(), "WARNING:") {
				t.Fatalf("%s: the module raised no WARNING:\n%s", name, r.Output())
			}
			d := resultsDoc(t, r)
			sigs := signatures(d)
			if d.Outcome != "poweroff" || len(sigs) != 1 {
				t.Fatalf("%s: outcome %q, signatures %q; want poweroff and one signature", name, d.Outcome, sigs)
			}
			if r.Exit != 1 {
				t.Errorf("%s: exit status %d with --bisect-status after a WARNING, want 1", name, r.Exit)
			}
			got = append(got, sigs[0])
		}
		if got[0] != got[1] || got[0] != "WARNING in gokvm_warn_trigger" {
			t.Errorf("signatures %q and %q, want both \"WARNING in gokvm_warn_trigger\"", got[0], got[1])
		}
	})
}

// junit is the part of a JUnit document the test reads.
type junit struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestResultsTAP: a kselftest TAP run printed by the guest comes out as
// JUnit test cases with their verdicts.
func TestResultsTAP(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "results-tap")
		b := r.Files["$WORK/results.xml"]
		var doc junit
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("the JUnit file does not parse: %v\n%s", err, b)
		}
		verdict := map[string]string{}
		for _, s := range doc.Suites {
			for _, c := range s.Cases {
				v := "pass"
				switch {
				case c.Failure != nil:
					v = "fail"
				case c.Error != nil:
					v = "error"
				case c.Skipped != nil:
					v = "skip"
				}
				verdict[c.Name] = v
			}
		}
		for name, want := range map[string]string{
			"selftests: gokvm: passes": "pass", "selftests: gokvm: fails": "fail", "selftests: gokvm: skipped": "skip",
		} {
			if verdict[name] != want {
				t.Errorf("test case %q: %q, want %q (all: %v)", name, verdict[name], want, verdict)
			}
		}
	})
}

// symbolizedFrame is a vcpu dump's line naming a kernel function.
var symbolizedFrame = regexp.MustCompile(`(?m)^gokvm:   (pc|lr|#\d+) [0-9a-f]{16} \w+\+0x[0-9a-f]+/0x[0-9a-f]+`)

// TestResultsHang: a guest still running at --timeout is diagnosed with
// --symbols: each vcpu's pc is named as a kernel function, on stderr and
// in the results.
func TestResultsHang(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "results-hang")
		d := resultsDoc(t, r)
		if d.Outcome != "timeout" {
			t.Errorf("outcome %q, want timeout", d.Outcome)
		}
		if len(d.Hangs) != 2 {
			t.Fatalf("%d vcpus diagnosed, want 2: %+v\n%s", len(d.Hangs), d.Hangs, r.Stderr)
		}
		// stderr: the timeout, then each vcpu's stack named.
		if !strings.Contains(r.Stderr, "gokvm: timeout: the guest ran for") {
			t.Errorf("stderr says nothing of the timeout:\n%s", r.Stderr)
		}
		if n := len(symbolizedFrame.FindAllString(r.Stderr, -1)); n < 2 {
			t.Errorf("%d named frames on stderr, want one a vcpu at least:\n%s", n, r.Stderr)
		}
		for _, hg := range d.Hangs {
			// A kernel function: name+0xOFF/0xSIZE.
			if !strings.Contains(hg.PC, "+0x") {
				t.Errorf("vcpu %d: pc %q names no kernel function", hg.VCPU, hg.PC)
			}
		}
	})
}

// TestResultsSandbox: the TAP a sandboxed command prints is read into
// the results with the command's status; a failed test makes the run bad
// for git bisect though the command exited 0.
func TestResultsSandbox(t *testing.T) {
	oneHost(t, func(t *testing.T, h string) {
		r := result(t, h, "results-sandbox")
		d := resultsDoc(t, r)
		if d.CommandStatus == nil || *d.CommandStatus != 0 || d.Outcome != "poweroff" {
			t.Errorf("outcome %q, command status %v; want poweroff and 0", d.Outcome, d.CommandStatus)
		}
		var got []string
		for _, tc := range d.Tests {
			got = append(got, tc.Name+": "+string(tc.Status))
		}
		if want := "first: pass second: fail"; strings.Join(got, " ") != want {
			t.Errorf("tests %q, want %q", got, want)
		}
		if r.Exit != 1 {
			t.Errorf("exit status %d with --bisect-status after a failed test, want 1", r.Exit)
		}
	})
}
