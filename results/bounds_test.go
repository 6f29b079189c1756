package results

import (
	"bytes"
	"fmt"
	"testing"
)

// docBytes is what a document keeps, in bytes of text.
func docBytes(d *Document) int {
	n := 0
	walk(d.Tests, func(t *Test, _ []*Test) {
		n += len(t.Name) + len(t.Reason)
		for _, s := range t.Diagnostics {
			n += len(s)
		}
	})
	for _, p := range d.Problems {
		n += len(p.Title) + len(p.Signature)
		for _, s := range p.Report {
			n += len(s)
		}
	}
	for _, s := range d.ConsoleTail {
		n += len(s)
	}
	return n
}

// TestBoundsLongLine: a console that never ends its line keeps
// Limits.LineBytes of it.
func TestBoundsLongLine(t *testing.T) {
	p := NewParser(Options{Clock: fakeClock()})
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	const total = 10 << 20
	for n := 0; n < total; n += len(chunk) {
		p.Write(chunk)
		if len(p.console.buf) > p.lim.LineBytes || cap(p.console.buf) > p.lim.LineBytes {
			t.Fatalf("the line buffer holds %d bytes (cap %d), limit %d", len(p.console.buf), cap(p.console.buf), p.lim.LineBytes)
		}
	}
	d := p.Finish()
	if d.Dropped.LongLines != 1 || d.Dropped.LineBytes != total-4096 {
		t.Errorf("dropped %+v, want 1 long line, %d bytes", d.Dropped, total-4096)
	}
	if len(d.ConsoleTail) != 1 || len(d.ConsoleTail[0]) != 4096 {
		t.Errorf("console tail: %d lines", len(d.ConsoleTail))
	}
	for _, f := range []Format{JSON, JUnit, TAP} {
		if n := len(render(t, d, f)); n > 64<<10 {
			t.Errorf("%s output is %d bytes", f, n)
		}
	}
}

// TestBoundsManyLines: a million short lines, as results, output and
// distinct WARNINGs, keep what the limits say and count the rest.
func TestBoundsManyLines(t *testing.T) {
	lim := DefaultLimits()
	p := NewParser(Options{Clock: fakeClock()})
	var b bytes.Buffer
	p.Write([]byte("KTAP version 1\n"))
	lines, tests := 2, 0
	for lines < 1_000_000 {
		b.Reset()
		for i := 0; i < 1000 && lines < 1_000_000; i++ {
			switch {
			case lines%2000 == 0:
				// A WARNING of its own function: a new signature each time.
				fmt.Fprintf(&b, "WARNING: CPU: 0 PID: 1 at x.c:1 gokvm_f%d+0x1/0x2\n---[ end trace 0000000000000000 ]---\n", lines)
				lines += 2
			case lines%10 == 0:
				tests++
				fmt.Fprintf(&b, "ok %d t%d\n", tests, tests)
				lines++
			default:
				fmt.Fprintf(&b, "# output line %d of the flood\n", lines)
				lines++
			}
		}
		p.Write(b.Bytes())
		if p.diag.used > lim.DiagnosticBytes {
			t.Fatalf("diagnostics keep %d bytes, budget %d", p.diag.used, lim.DiagnosticBytes)
		}
	}
	// One test's worth of output that never ends.
	b.Reset()
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&b, "# the last test talks and talks %d\n", i)
	}
	p.Write(b.Bytes())
	d := p.Finish()

	if len(d.Tests) != lim.Tests || d.Dropped.Tests != int64(tests-lim.Tests) {
		t.Errorf("%d tests kept, %d dropped; want %d kept of %d", len(d.Tests), d.Dropped.Tests, lim.Tests, tests)
	}
	walk(d.Tests, func(tt *Test, _ []*Test) {
		if len(tt.Diagnostics) > lim.DiagnosticsPerTest {
			t.Fatalf("test %s keeps %d lines", tt.Name, len(tt.Diagnostics))
		}
	})
	if len(d.Signatures) != lim.Signatures || len(d.Problems) > lim.Signatures+lim.Repeats || d.Dropped.Signatures == 0 {
		t.Errorf("%d signatures, %d problems, dropped %+v", len(d.Signatures), len(d.Problems), d.Dropped)
	}
	if d.Dropped.Diagnostics == 0 {
		t.Error("no diagnostics dropped")
	}
	// Tests' output, reports, the tail: within the budgets, with room for
	// names.
	max := lim.DiagnosticBytes + (lim.Signatures+lim.Repeats)*lim.ReportBytes + lim.ConsoleTail*lim.LineBytes + lim.Tests*64
	if n := docBytes(d); n > max {
		t.Errorf("the document keeps %d bytes, more than %d", n, max)
	}
	if p.diag.used < 0 || p.diag.used > lim.DiagnosticBytes {
		t.Errorf("budget accounting: %d used", p.diag.used)
	}
}

// TestBoundsReport: one endless report keeps Limits.ReportLines.
func TestBoundsReport(t *testing.T) {
	p := NewParser(Options{Clock: fakeClock()})
	p.Write([]byte("WARNING: CPU: 0 PID: 1 at x.c:1 gokvm_f+0x1/0x2\nCall trace:\n"))
	for i := 0; i < 100_000; i++ {
		p.Write([]byte(" gokvm_frame+0x1/0x2\n"))
	}
	d := p.Finish()
	if len(d.Problems) == 0 {
		t.Fatal("no problem")
	}
	var lines int
	for _, pr := range d.Problems {
		lines += len(pr.Report)
		if len(pr.Report) > p.lim.ReportLines {
			t.Errorf("a report keeps %d lines", len(pr.Report))
		}
	}
	if d.Dropped.ReportLines == 0 {
		t.Errorf("no report lines dropped: %d kept", lines)
	}
}

// TestAddHangBounds: a hang diagnosis is bounded too.
func TestAddHangBounds(t *testing.T) {
	d := &Document{}
	frames := make([]string, 100)
	for i := range frames {
		frames[i] = string(bytes.Repeat([]byte("f"), 1000))
	}
	for v := 0; v < 600; v++ {
		d.AddHang(v, "pc", frames)
	}
	if len(d.Hangs) != maxHangs || len(d.Hangs[0].Frames) != maxHangFrames || len(d.Hangs[0].Frames[0]) != maxHangStrByte {
		t.Errorf("%d hangs, %d frames of %d bytes", len(d.Hangs), len(d.Hangs[0].Frames), len(d.Hangs[0].Frames[0]))
	}
	if want := int64(600-maxHangs) + int64(maxHangs*(100-maxHangFrames)); d.Dropped.Hangs != want {
		t.Errorf("dropped %d, want %d", d.Dropped.Hangs, want)
	}
}
