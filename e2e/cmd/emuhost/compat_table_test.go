package main

import (
	"strings"
	"testing"
)

func TestJudgeRunNeedsMarkerAtLineStart(t *testing.T) {
	out := "Kernel command line: console=ttyAMA0 init=/init GOKVM_OK\r\n\rGOKVM_OK boot\nreboot: Power down\n"
	if o := judgeRun(out, 0, "GOKVM_OK"); !o.marker || o.exit != 0 {
		t.Errorf("judgeRun = %+v, want marker at exit 0", o)
	}
	echoOnly := "Kernel command line: console=ttyAMA0 GOKVM_OK\n"
	if o := judgeRun(echoOnly, 0, "GOKVM_OK"); o.marker {
		t.Errorf("a command-line echo counted as the marker")
	}
}

func TestVerdict(t *testing.T) {
	pass := compatOutcome{exit: 0, marker: true}
	tests := []struct {
		name      string
		row       compatRow
		want      string
		regresses bool
	}{
		{"both pass", compatRow{kvmtool: pass, gokvm: pass}, "same", false},
		{"gokvm misses marker", compatRow{kvmtool: pass, gokvm: compatOutcome{}}, "differs", true},
		{"exit differs", compatRow{kvmtool: pass, gokvm: compatOutcome{exit: 1, marker: true}}, "differs", false},
		{"reboot by design", compatRow{kvmtool: pass, gokvm: compatOutcome{exit: 3, marker: true}, exitMayDiffer: true},
			"same (exit status differs by design)", false},
		{"kvmtool fails only", compatRow{kvmtool: compatOutcome{exit: 1}, gokvm: pass}, "differs", false},
	}
	for _, tc := range tests {
		if got := tc.row.verdict(); got != tc.want {
			t.Errorf("%s: verdict = %q, want %q", tc.name, got, tc.want)
		}
		if got := tc.row.gokvmRegresses(); got != tc.regresses {
			t.Errorf("%s: gokvmRegresses = %v, want %v", tc.name, got, tc.regresses)
		}
	}
}

func TestCompatTableEscapesPipes(t *testing.T) {
	rows := []compatRow{{payload: "hello a|b", cmdline: "--nodefaults -k hello.bin",
		kvmtool: compatOutcome{marker: true}, gokvm: compatOutcome{marker: true}}}
	got := compatTable(rows)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), got)
	}
	if !strings.Contains(lines[2], `hello a\|b`) || !strings.Contains(lines[2], "exit 0, marker printed") {
		t.Errorf("row = %q", lines[2])
	}
	if strings.Count(lines[2], " | ") != 4 {
		t.Errorf("row has wrong cell count: %q", lines[2])
	}
}
