package results

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseResult(t *testing.T) {
	for in, want := range map[string]result{
		"ok 1 test_case_name":                        {ok: true, number: 1, name: "test_case_name"},
		"not ok 2 - a test":                          {number: 2, name: "a test"},
		"ok 1 test # SKIP necessary dependency":      {ok: true, number: 1, name: "test", directive: "SKIP", reason: "necessary dependency"},
		"not ok 1 test # TIMEOUT 30 seconds":         {number: 1, name: "test", directive: "TIMEOUT", reason: "30 seconds"},
		"ok 5 check return code # rcode=0":           {ok: true, number: 5, name: "check return code", reason: "rcode=0"},
		"ok 3 selftests: timers: rtcpie # SKIP":      {ok: true, number: 3, name: "selftests: timers: rtcpie", directive: "SKIP"},
		"not ok 4 x # todo later":                    {number: 4, name: "x", directive: "TODO", reason: "later"},
		"ok 7 y # skipped: no device":                {ok: true, number: 7, name: "y", directive: "SKIP", reason: "no device"},
		"ok 9 # XFAIL known":                         {ok: true, number: 9, directive: "XFAIL", reason: "known"},
		"not ok 1 z # ERROR setup":                   {number: 1, name: "z", directive: "ERROR", reason: "setup"},
		`ok 2 a \# b \\ c # SKIP`:                    {ok: true, number: 2, name: `a # b \ c`, directive: "SKIP"},
		"ok":                                         {ok: true},
		"not ok - no number":                         {name: "no number"},
		"ok 12345678901 too big a number, kept name": {ok: true, name: "12345678901 too big a number, kept name"},
	} {
		got, ok := parseResult(in)
		if !ok || got != want {
			t.Errorf("parseResult(%q) = %+v, %v; want %+v", in, got, ok, want)
		}
	}
	for _, in := range []string{"okay then", "not okay", "nothing", "notok 1"} {
		if _, ok := parseResult(in); ok {
			t.Errorf("parseResult(%q) took it for a result line", in)
		}
	}
}

func TestClassify(t *testing.T) {
	for in, want := range map[string]ktapLine{
		"KTAP version 1":           {kind: ktapVersion},
		"    TAP version 14":       {kind: ktapVersion, indent: 4},
		"TAP version thirteen":     {},
		"1..5":                     {kind: ktapPlan, plan: 5},
		"  1..0 # SKIP no tests":   {kind: ktapPlan, indent: 2, plan: 0},
		"1..5 tests":               {},
		"    # Subtest: example":   {kind: ktapSubtest, indent: 4, name: "example"},
		"# Totals: pass:1":         {kind: ktapDiag},
		"\tok 1 x":                 {kind: ktapResult, indent: 8, res: result{ok: true, number: 1, name: "x"}},
		"Bail out! no disk":        {kind: ktapBail, name: "no disk"},
		"random: crng init done":   {},
		"":                         {},
		"Booting Linux on physica": {},
	} {
		if got := classify(in); got != want {
			t.Errorf("classify(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// tree says a document's tests in one line: name:status, subtests in [].
func tree(ts []*Test) string {
	var parts []string
	for _, t := range ts {
		s := fmt.Sprintf("%d.%s:%s", t.Number, t.Name, t.Status)
		if len(t.Subtests) > 0 {
			s += "[" + tree(t.Subtests) + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TestStructure reads the nestings KTAP, TAP 14 and the KUnit of
// different kernels print, and the ways a run ends early.
func TestStructure(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"KTAP spec example", `
KTAP version 1
1..1
  KTAP version 1
  1..3
    KTAP version 1
    1..1
    # test_1: initializing test_1
    ok 1 test_1
  ok 1 example_test_1
    KTAP version 1
    1..2
    ok 1 test_1 # SKIP test_1 skipped
    ok 2 test_2
  ok 2 example_test_2
    KTAP version 1
    1..3
    ok 1 test_1
    # test_2: FAIL
    not ok 2 test_2
    ok 3 test_3 # SKIP test_3 skipped
  not ok 3 example_test_3
not ok 1 main_test`, "1.main_test:fail[1.example_test_1:pass[1.test_1:pass] 2.example_test_2:pass[1.test_1:skip 2.test_2:pass] 3.example_test_3:fail[1.test_1:pass 2.test_2:fail 3.test_3:skip]]"},
		{"KUnit before KTAP: Subtest line, no nested version", `
TAP version 14
1..1
    # Subtest: example
    1..2
    ok 1 - example_simple_test
    not ok 2 - example_failing_test
not ok 1 - example`, "1.example:fail[1.example_simple_test:pass 2.example_failing_test:fail]"},
		{"TAP 14 bare subtest, named by its parent's result", `
TAP version 14
1..2
    1..1
    ok 1 - inner
ok 1 - outer
ok 2 - plain`, "1.outer:pass[1.inner:pass] 2.plain:pass"},
		{"nesting without indentation", `
KTAP version 1
1..2
KTAP version 1
# Subtest: suite
1..2
ok 1 a
ok 2 b
ok 1 suite
ok 2 other`, "1.suite:pass[1.a:pass 2.b:pass] 2.other:pass"},
		{"a plan after the results, and no numbers", `
TAP version 13
ok - one
not ok - two
1..3`, "1.one:pass 2.two:fail 3.missing:error"},
		{"the console ends in a suite", `
KTAP version 1
1..2
    KTAP version 1
    # Subtest: cut
    1..3
    ok 1 first`, "1.cut:error[1.first:pass 2.missing:error 3.missing:error] 2.missing:error"},
		{"a new document after a finished one", `
KTAP version 1
1..1
ok 1 boot_suite
TAP version 13
1..1
ok 1 selftest`, "1.boot_suite:pass 1.selftest:pass"},
		{"a new document while a suite is open", `
KTAP version 1
1..1
    KTAP version 1
    # Subtest: left_open
    1..2
    ok 1 only
TAP version 13
1..1
ok 1 selftest`, "1.left_open:error[1.only:pass 2.missing:error] 1.selftest:pass"},
		{"a parent's result closes two levels", `
KTAP version 1
1..1
    KTAP version 1
    # Subtest: outer
    1..1
        KTAP version 1
        # Subtest: inner
        1..1
        ok 1 deep
ok 1 outer`, "1.outer:pass[1.inner:error[1.deep:pass]]"},
		{"lines before any version line are no tests", `
ok 1 not a test yet
1..3
# Subtest: nothing`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tree(parseText(t, c.text).Tests); got != c.want {
				t.Errorf("tree\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

// TestMissingReason: the tests a crash left without results say why, and
// the first of them has what the crashed test printed.
func TestMissingReason(t *testing.T) {
	d := parseText(t, `
KTAP version 1
1..2
ok 1 fine
# about to crash
Kernel panic - not syncing: gokvm test
---[ end Kernel panic - not syncing: gokvm test ]---
`)
	if got := tree(d.Tests); got != "1.fine:pass 2.missing:error" {
		t.Fatalf("tree %s", got)
	}
	m := d.Tests[1]
	if m.Reason != "no result line: a kernel panic" || len(m.Diagnostics) != 2 || m.Diagnostics[0] != "# about to crash" {
		t.Errorf("missing test: %+v", m)
	}
	if d.Problems[0].During != "#2" {
		t.Errorf("the panic came during %q, want #2", d.Problems[0].During)
	}
}

// TestDuring names the test running when a problem came.
func TestDuring(t *testing.T) {
	d := parseText(t, `
KTAP version 1
1..2
ok 1 first
    KTAP version 1
    # Subtest: suite
    1..3
    ok 1 a
------------[ cut here ]------------
WARNING: CPU: 0 PID: 1 at x.c:1 gokvm_w+0x1/0x2
---[ end trace 0000000000000000 ]---
    ok 2 b
`)
	if len(d.Problems) != 1 || d.Problems[0].During != "suite > #2" {
		t.Fatalf("problems %+v", d.Problems)
	}
	// The WARNING is also the output of the test it came in.
	b := d.Tests[1].Subtests[1]
	if b.Name != "b" || len(b.Diagnostics) != 3 || !strings.Contains(b.Diagnostics[1], "WARNING") {
		t.Errorf("test b: %+v", b)
	}
}

// TestHugePlan: a plan of a billion tests that never come costs no more
// than the test limit.
func TestHugePlan(t *testing.T) {
	start := time.Now()
	d := parseText(t, "KTAP version 1\n1..999999999\nok 1 one\n")
	if len(d.Tests) != DefaultLimits().Tests || d.Dropped.Tests != 999999999-int64(DefaultLimits().Tests) {
		t.Errorf("%d tests kept, %d dropped", len(d.Tests), d.Dropped.Tests)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}
