package main

import (
	"strings"
	"testing"
)

func TestJudgeRun(t *testing.T) {
	expect := compatExpect{markers: []string{"GOKVM-GUEST-MARKER", "GUEST-CPUS-ONLINE 0-1 "}, forbidden: "GOKVM-TINY x FAIL", gokvmExit: 3}
	tests := []struct {
		name     string
		console  string
		exit     int
		timedOut bool
		peer     bool
		pass     bool
		cell     string
	}{
		{"both markers, gokvm's status", "\rGOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (runtime.NumCPU 2)\n", 3, false, false, true, "pass (exit 3)"},
		{"both markers, kvmtool's status", "GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (runtime.NumCPU 2)\n", 0, false, true, true, "pass (exit 0)"},
		{"kvmtool's status from gokvm", "GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (x)\n", 0, false, false, false, "FAIL: exit 0, want 3"},
		{"a command-line echo is no marker", "Kernel command line: GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (x)\n", 3, false, false, false,
			"FAIL: no `GOKVM-GUEST-MARKER`"},
		{"one vcpu online", "GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0 (runtime.NumCPU 1)\n", 3, false, false, false,
			"FAIL: no `GUEST-CPUS-ONLINE 0-1 `"},
		{"the guest's failure line", "GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (x)\nGOKVM-TINY x FAIL: why\n", 3, false, false, false,
			"FAIL: the guest reported a failure"},
		{"killed at the limit with everything printed", "GOKVM-GUEST-MARKER\nGUEST-CPUS-ONLINE 0-1 (x)\n", 3, true, false, false,
			"FAIL: killed at the time limit"},
		{"killed before anything", "", -1, true, true, false,
			"FAIL: killed at the time limit; no `GOKVM-GUEST-MARKER`; no `GUEST-CPUS-ONLINE 0-1 `"},
	}
	for _, tc := range tests {
		o := judgeRun(tc.console, tc.exit, tc.timedOut, expect, tc.peer)
		if o.passed() != tc.pass {
			t.Errorf("%s: passed = %v, want %v (%+v)", tc.name, o.passed(), tc.pass, o)
		}
		if got := o.String(); got != tc.cell {
			t.Errorf("%s: cell %q, want %q", tc.name, got, tc.cell)
		}
	}
}

func TestLostRunFails(t *testing.T) {
	o := compatOutcome{exit: -1, lost: true}
	if o.passed() || !strings.HasPrefix(o.String(), "FAIL: no result") {
		t.Errorf("a run without a result: passed %v, cell %q", o.passed(), o)
	}
}

func TestGokvmRegresses(t *testing.T) {
	pass := compatOutcome{}
	fail := compatOutcome{exit: 1}
	tests := []struct {
		name           string
		kvmtool, gokvm compatOutcome
		want           bool
	}{
		{"both pass", pass, pass, false},
		{"gokvm fails", pass, fail, true},
		{"gokvm lost", pass, compatOutcome{lost: true}, true},
		{"both fail", fail, fail, false},
		{"only kvmtool fails", fail, pass, false},
	}
	for _, tc := range tests {
		if got := (compatRow{kvmtool: tc.kvmtool, gokvm: tc.gokvm}).gokvmRegresses(); got != tc.want {
			t.Errorf("%s: gokvmRegresses = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCompatTable(t *testing.T) {
	rows := []compatRow{
		{name: "hello a|b", cmdline: "--nodefaults -k hello.bin", note: "fine"},
		{name: "disk", cmdline: "-d x", note: "reads it", gokvm: compatOutcome{exit: 1, missing: []string{"GUEST-SHA a|b"}}},
	}
	got := compatTable(rows)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want 4:\n%s", len(lines), got)
	}
	want := []string{
		"| case | `lkvm run` / `gokvm run` options | kvmtool | gokvm | note |",
		"|---|---|---|---|---|",
		"| hello a\\|b | `--nodefaults -k hello.bin` | pass (exit 0) | pass (exit 0) | fine |",
		"| disk | `-d x` | pass (exit 0) | FAIL: exit 1, want 0; no `GUEST-SHA a\\|b` | **gokvm fails what kvmtool passes**; reads it |",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
	for i, l := range lines {
		// Five cells: six unescaped pipes.
		if n := strings.Count(l, "|") - strings.Count(l, `\|`); n != 6 {
			t.Errorf("line %d has %d cell borders, want 6: %s", i, n, l)
		}
	}
}
