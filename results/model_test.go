package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestFormatFor(t *testing.T) {
	for _, c := range []struct {
		path, name string
		want       Format
		err        bool
	}{
		{"out/results.json", "", JSON, false},
		{"r.XML", "", JUnit, false},
		{"r.tap", "", TAP, false},
		{"r.txt", "", "", true},
		{"r.txt", "junit", JUnit, false},
		{"r.json", "tap", TAP, false},
		{"r.json", "yaml", "", true},
	} {
		got, err := FormatFor(c.path, c.name)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("FormatFor(%q, %q) = %q, %v", c.path, c.name, got, err)
		}
	}
	if err := (&Document{}).Write(&bytes.Buffer{}, Format("yaml")); err == nil {
		t.Error("an unknown format writes")
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	d := parseText(t, "KTAP version 1\n1..1\nok 1 x\n")
	path := filepath.Join(dir, "r.json")
	if err := d.WriteFile(path, JSON); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, render(t, d, JSON)) {
		t.Fatalf("file %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	err = d.WriteFile(filepath.Join(dir, "no", "such", "dir.json"), JSON)
	if err == nil || !strings.Contains(err.Error(), "dir.json") {
		t.Errorf("error %v does not name the file", err)
	}
}

func TestPassed(t *testing.T) {
	d := parseText(t, "KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP\n")
	d.SetOutcome(OutcomePoweroff)
	if !d.Passed() {
		t.Error("a passing run does not pass")
	}
	d = parseText(t, "KTAP version 1\n1..2\nok 1 a\n")
	d.SetOutcome(OutcomePoweroff)
	if d.Passed() {
		t.Error("a run with a missing test passes")
	}
	d = parseText(t, "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\n")
	d.SetOutcome(OutcomePoweroff)
	if d.Passed() {
		t.Error("a run with a WARNING passes")
	}
}

// TestFinish: Finish is idempotent, Write after it discards, and writes
// from goroutines do not race (go test -race).
func TestFinish(t *testing.T) {
	p := NewParser(Options{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				p.Write([]byte("# line\n"))
			}
		}()
	}
	wg.Wait()
	d := p.Finish()
	late := []byte("KTAP version 1\n1..1\nok 1 late\n")
	if n, err := p.Write(late); n != len(late) || err != nil {
		t.Errorf("Write after Finish = %d, %v", n, err)
	}
	if p.Finish() != d || len(d.Tests) != 0 || d.Name != "gokvm" || d.Outcome != OutcomeUnknown {
		t.Errorf("a second Finish: %+v", d)
	}
	if d.DurationS < 0 {
		t.Errorf("duration %v", d.DurationS)
	}
}

// TestBootTime: the boot time is the clock's at "Run ... as init process",
// and that line's printk time.
func TestBootTime(t *testing.T) {
	d := parseText(t, "[    0.100000] hello\n[    1.250000] Run /sbin/init as init process\n[    2.000000] Run /init as init process\n")
	if d.BootS == nil || *d.BootS != 0.02 || d.BootKernelS == nil || *d.BootKernelS != 1.25 {
		t.Errorf("boot %v, kernel %v", d.BootS, d.BootKernelS)
	}
	d = parseText(t, "no init here\n")
	if d.BootS != nil {
		t.Error("a boot time without an init line")
	}
}

func TestStripPrefix(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		in, msg, caller string
		t               *float64
	}{
		{"[   12.345678] WARNING: x", "WARNING: x", "", f(12.345678)},
		{"<4>[   12.345678] x", "x", "", f(12.345678)},
		{"[    1.000000][  T123]     ok 1 y", "    ok 1 y", "T123", f(1)},
		{"[    1.000000][    C1] z", "z", "C1", f(1)},
		{"[    1.000000] <6>z", "z", "", f(1)},
		{"[0000000000000008] pgd=0800000041a2d003", "[0000000000000008] pgd=0800000041a2d003", "", nil},
		{"[ ok ] started", "[ ok ] started", "", nil},
		{"<html>", "<html>", "", nil},
		{"[    1.000000]", "", "", f(1)},
	} {
		msg, kt, caller := stripPrefix(c.in)
		if msg != c.msg || caller != c.caller || (kt == nil) != (c.t == nil) || kt != nil && *kt != *c.t {
			t.Errorf("stripPrefix(%q) = %q, %v, %q", c.in, msg, kt, caller)
		}
	}
}

func TestLineList(t *testing.T) {
	b := budget{max: 20}
	var lost int64
	var l lineList
	for _, s := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
		l.add(s, 4, &b, &lost)
	}
	if got := strings.Join(l.lines(), " "); got != "a1 a2 a5 a6" || l.dropped != 2 || lost != 2 || b.used != 8 {
		t.Errorf("lines %q dropped %d lost %d used %d", got, l.dropped, lost, b.used)
	}
	l.add(strings.Repeat("x", 15), 4, &b, &lost)
	if l.dropped != 3 || b.used != 8 {
		t.Errorf("past the budget: dropped %d used %d", l.dropped, b.used)
	}
	l.release(&b)
	if b.used != 0 || l.lines() != nil {
		t.Errorf("release: used %d", b.used)
	}
}

// TestTAPRoundTrip: the TAP writer's output reads back as the same tree,
// with the kernel problems and the outcome as tests after it.
func TestTAPRoundTrip(t *testing.T) {
	for _, name := range []string{"kunit", "kselftest", "kunit-panic", "odd"} {
		d := parseText(t, string(readLog(t, name)))
		d.SetOutcome(OutcomePoweroff)
		back := parseText(t, string(render(t, d, TAP)))
		want := strings.Join(strings.Fields(renumbered(d.Tests)), " ")
		var extra []string
		for _, s := range d.Signatures {
			extra = append(extra, "kernel: "+s.Signature)
		}
		got := renumbered(back.Tests)
		for _, e := range append(extra, "gokvm.outcome") {
			if !strings.Contains(got, e) {
				t.Errorf("%s: %q missing from the TAP read back", name, e)
			}
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: read back\n%s\nwant it to start\n%s", name, got, want)
		}
	}
}

// renumbered is tree with numbers as the TAP writer gives them.
func renumbered(ts []*Test) string {
	var parts []string
	for i, t := range ts {
		s := testName(t) + ":" + string(t.Status)
		if len(t.Subtests) > 0 {
			s += "[" + renumbered(t.Subtests) + "]"
		}
		parts = append(parts, strings.TrimSpace(string(rune('0'+i%10))+"."+s))
	}
	return strings.Join(parts, " ")
}
