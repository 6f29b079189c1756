package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/results"
	"github.com/gokvm/gokvm/sandbox"
)

// TestCIFlags: --results takes its format from the extension or
// --results-format; --symbols and --bisect-status are taken as given;
// each mistake is a one-line usage error naming it.
func TestCIFlags(t *testing.T) {
	for _, tc := range []struct {
		args                     []string
		results, format, symbols string
		bisect                   bool
	}{
		{[]string{"--results", "r.json"}, "r.json", "", "", false},
		{[]string{"--results", "r.xml", "--bisect-status"}, "r.xml", "", "", true},
		{[]string{"--results=r.junit", "--symbols", "System.map"}, "r.junit", "", "System.map", false},
		{[]string{"--results", "r.out", "--results-format", "tap"}, "r.out", "tap", "", false},
		{[]string{"--results", "r.json", "--results-format", "JUnit"}, "r.json", "JUnit", "", false},
		{[]string{"--bisect-status", "--symbols", "vmlinux"}, "", "", "vmlinux", true},
	} {
		o, err := parseRunFlags(append([]string{"-k", "Image"}, tc.args...))
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.results != tc.results || o.resultsFormat != tc.format || o.symbols != tc.symbols || o.bisect != tc.bisect {
			t.Errorf("%q: %+v", tc.args, o)
		}
	}
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--results", "r.txt"}, `cannot tell the format of "r.txt"`},
		{[]string{"--results", "r"}, `cannot tell the format of "r"`},
		{[]string{"--results", "r.json", "--results-format", "yaml"}, `unknown format "yaml"`},
		{[]string{"--results-format", "json"}, "--results-format json: give --results FILE too"},
		{[]string{"--results", filepath.Join(dir, "none", "r.json")}, filepath.Join(dir, "none", "r.json")},
		{[]string{"--symbols", filepath.Join(dir, "System.map")}, "symbols: open " + filepath.Join(dir, "System.map")},
		{[]string{"--symbols", kernel}, kernel},
		{[]string{"--aarch32", "--symbols", kernel}, "backtraces are for AArch64 guests"},
	} {
		code, _, stderr := runCLI(t, append([]string{"run", "-k", kernel}, tc.args...)...)
		if code != machine.ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: status %d, stderr %q; want %d and %q on one line", tc.args, code, stderr, machine.ExitUsage, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left: %v", entries)
	}
}

// TestCIFlagsWithRestore: --results, --results-format, --bisect-status
// and --symbols go with --restore.
func TestCIFlagsWithRestore(t *testing.T) {
	dir := t.TempDir()
	state := writeSaved(t, dir, machine.Spec{Kernel: "/boot/Image"})
	o, err := parseRunFlags([]string{"--restore", state, "--results", "r.tap", "--results-format", "junit", "--bisect-status", "--symbols", "System.map"})
	if err != nil {
		t.Fatal(err)
	}
	if o.results != "r.tap" || o.resultsFormat != "junit" || !o.bisect || o.symbols != "System.map" {
		t.Errorf("%+v", o)
	}
	code, _, stderr := runCLI(t, "run", "--restore", state, "--results", "r.txt")
	if code != machine.ExitUsage || !strings.Contains(stderr, `"r.txt"`) {
		t.Errorf("status %d, stderr %q", code, stderr)
	}
}

// TestResultsWhenGokvmFails: a run that fails before its guest runs
// (here: no KVM) still writes its results, with the outcome error and
// why; --bisect-status makes every such failure 125, a command line that
// does not parse too.
func TestResultsWhenGokvmFails(t *testing.T) {
	dir := t.TempDir()
	kernel := writeFile(t, dir, "Image", testimage.Arm64(1<<20, 0, 20<<20))
	kvm := filepath.Join(dir, "kvm")
	out := filepath.Join(dir, "r.json")
	code, _, stderr := runCLI(t, "run", "-k", kernel, "--kvm-device", kvm, "--results", out)
	if code != machine.ExitFailure {
		t.Errorf("status %d, stderr %q", code, stderr)
	}
	var d results.Document
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Outcome != results.OutcomeError || !strings.Contains(d.Error, kvm+" does not exist") || d.Format != results.FormatVersion {
		t.Errorf("document %+v, %v", d, err)
	}
	for _, args := range [][]string{
		{"run", "-k", kernel, "--kvm-device", kvm, "--bisect-status"},
		{"run", "-k", kernel, "--kvm-device", kvm, "--bisect-status", "--results", out},
		{"run", "-k", filepath.Join(dir, "none"), "--bisect-status"},
		{"run", "--bisect-status", "--bogus"},
		{"run", "-k", kernel, "--bisect-status", "--detach"},
		{"run", "--bisect-status=true", "-c", "0", "-k", kernel},
		{"run", "--restore", filepath.Join(dir, "none"), "--bisect-status"},
		{"sandbox", "-k", kernel, "--kvm-device", kvm, "--bisect-status", "--results", out, "--", "true"},
		{"sandbox", "--bisect-status", "-k", kernel, "--bogus", "--", "true"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != machine.BisectSkip || ownLines(stderr) != 1 {
			t.Errorf("%q: status %d, stderr %q; want %d", args, code, stderr, machine.BisectSkip)
		}
	}
	// Not asked for: the usual statuses.
	if code, _, _ := runCLI(t, "run", "--bisect-status=false", "--bogus"); code != machine.ExitUsage {
		t.Errorf("--bisect-status=false: status %d", code)
	}
	if code, _, _ := runCLI(t, "sandbox", "-k", kernel, "--", "true", "--bisect-status"); code != sandbox.StatusFailed {
		t.Errorf("--bisect-status as the command's argument: status %d", code)
	}
	// The sandbox's document, too.
	b, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	d = results.Document{}
	if err := json.Unmarshal(b, &d); err != nil || d.Outcome != results.OutcomeError || d.Error == "" || d.CommandStatus != nil {
		t.Errorf("sandbox document %+v, %v", d, err)
	}
}

// TestSandboxCIFlags: the sandbox passes them on; --bisect-status takes
// no value, so the word after it is the next flag.
func TestSandboxCIFlags(t *testing.T) {
	o, err := parseSandboxFlags([]string{"-k", "Image", "--bisect-status", "--results", "r.xml", "--symbols", "System.map", "--", "make", "check"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.run.bisect || o.run.results != "r.xml" || o.run.symbols != "System.map" || strings.Join(o.command, " ") != "make check" {
		t.Errorf("%+v %+v", o, o.run)
	}
}

func TestHelpListsCIFlags(t *testing.T) {
	_, stdout, _ := runCLI(t, "help")
	for _, want := range []string{"--results FILE", "--results-format", "--symbols FILE", "--bisect-status", "125"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %s", want)
		}
	}
}
