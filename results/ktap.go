package results

import (
	"strconv"
	"strings"
	"time"
)

// What a console line is in KTAP (Documentation/dev-tools/ktap.rst) or TAP
// 13/14.
type ktapKind int

const (
	ktapOther   ktapKind = iota // an unknown line: kept as output, no structure
	ktapVersion                 // "KTAP version 1", "TAP version 13|14"
	ktapPlan                    // "1..N"
	ktapResult                  // "ok N name", "not ok N name # SKIP why"
	ktapSubtest                 // "# Subtest: name" (KUnit before KTAP, TAP 14)
	ktapDiag                    // "# anything"
	ktapBail                    // "Bail out! why"
)

type ktapLine struct {
	kind   ktapKind
	indent int // leading spaces (a tab counts 8)
	plan   int
	name   string // the subtest's name
	res    result
}

type result struct {
	ok        bool
	number    int // 0 when the line has none
	name      string
	directive string // upper case; "" when the text after '#' is no directive
	reason    string
}

// classify tells what a line (its printk prefix gone) is in KTAP. Most
// console lines are none of it: the first byte says so without more work.
func classify(msg string) ktapLine {
	var l ktapLine
	i := 0
	for ; i < len(msg); i++ {
		if msg[i] == ' ' {
			l.indent++
		} else if msg[i] == '\t' {
			l.indent += 8
		} else {
			break
		}
	}
	s := strings.TrimRight(msg[i:], " \t")
	if s == "" {
		return l
	}
	switch s[0] {
	case 'K', 'T':
		if v, ok := strings.CutPrefix(s, "KTAP version "); ok && isDigits(v) {
			l.kind = ktapVersion
		} else if v, ok := strings.CutPrefix(s, "TAP version "); ok && isDigits(v) {
			l.kind = ktapVersion
		}
	case '1':
		if n, ok := parsePlan(s); ok {
			l.kind, l.plan = ktapPlan, n
		}
	case 'o', 'n':
		if r, ok := parseResult(s); ok {
			l.kind, l.res = ktapResult, r
		}
	case '#':
		l.kind = ktapDiag
		if name, ok := strings.CutPrefix(s, "# Subtest: "); ok && strings.TrimSpace(name) != "" {
			l.kind, l.name = ktapSubtest, strings.TrimSpace(name)
		}
	case 'B':
		if strings.HasPrefix(s, "Bail out!") {
			l.kind, l.name = ktapBail, strings.TrimSpace(s[len("Bail out!"):])
		}
	}
	return l
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsePlan reads "1..N", with an optional "# reason" after it (TAP's
// "1..0 # SKIP why").
func parsePlan(s string) (int, bool) {
	rest, ok := strings.CutPrefix(s, "1..")
	if !ok {
		return 0, false
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	if end == 0 || end > 9 {
		return 0, false
	}
	if tail := strings.TrimLeft(rest[end:], " \t"); tail != "" && tail[0] != '#' {
		return 0, false
	}
	n, _ := strconv.Atoi(rest[:end])
	return n, true
}

// parseResult reads "<ok|not ok> [N] [-] [description] [# directive
// reason]". The description ends at the first '#' not escaped as "\#".
func parseResult(s string) (result, bool) {
	var r result
	switch {
	case strings.HasPrefix(s, "not ok"):
		s = s[len("not ok"):]
	case strings.HasPrefix(s, "ok"):
		r.ok = true
		s = s[len("ok"):]
	default:
		return r, false
	}
	if s != "" && s[0] != ' ' && s[0] != '\t' && s[0] != '#' {
		return r, false // "okay", "not oklahoma"
	}
	s = strings.TrimLeft(s, " \t")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end > 0 && end <= 9 && (end == len(s) || s[end] == ' ' || s[end] == '\t' || s[end] == '#') {
		r.number, _ = strconv.Atoi(s[:end])
		s = s[end:]
	}
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, "- ") || s == "-" {
		s = strings.TrimLeft(s[1:], " \t")
	}
	var name strings.Builder
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '#' || s[i+1] == '\\') {
			name.WriteByte(s[i+1])
			i++
			continue
		}
		if c == '#' {
			break
		}
		name.WriteByte(c)
	}
	r.name = strings.TrimSpace(name.String())
	if i < len(s) {
		d := strings.TrimSpace(s[i+1:])
		word, rest, _ := strings.Cut(d, " ")
		switch up := strings.ToUpper(word); {
		case strings.HasPrefix(up, "SKIP"):
			r.directive = "SKIP"
		case up == "TODO" || up == "XFAIL" || up == "TIMEOUT" || up == "ERROR":
			r.directive = up
		}
		if r.directive != "" {
			r.reason = strings.TrimSpace(rest)
		} else {
			r.reason = d
		}
	}
	return r, true
}

func (r result) status() Status {
	switch r.directive {
	case "SKIP":
		return StatusSkip
	case "TODO":
		return StatusTodo
	case "XFAIL":
		return StatusXfail
	case "ERROR":
		return StatusError
	case "TIMEOUT":
		return StatusFail
	}
	if r.ok {
		return StatusPass
	}
	return StatusFail
}

// level is one open KTAP document or subtest level.
type level struct {
	indent  int
	flat    bool   // nested without more indentation than its parent
	name    string // from "# Subtest: name"
	version bool   // its version line came
	plan    int    // -1 until a plan line
	count   int    // results seen, kept or not
	tests   []*Test
	pending lineList // output waiting for the next result line
	// header is a subtest level's output before its plan ("# module:
	// foo"): about the suite, not its first test.
	header lineList
	mark   time.Time
}

// ktap builds the test tree from the console's KTAP/TAP lines. The
// structure comes from version, subtest and result lines and their
// indentation; everything else, kernel messages included, is output of
// the test that is running (the next result at the innermost level).
type ktap struct {
	p     *Parser
	stack []*level
	kept  int // tests kept in all
}

func (k *ktap) top() *level { return k.stack[len(k.stack)-1] }

func (k *ktap) push(indent int, flat bool, now time.Time) *level {
	l := &level{indent: indent, flat: flat, plan: -1, mark: now}
	k.stack = append(k.stack, l)
	return l
}

func (k *ktap) pop() *level {
	l := k.top()
	k.stack = k.stack[:len(k.stack)-1]
	return l
}

func (k *ktap) line(l line, now time.Time) {
	kl := l.k
	if len(k.stack) == 0 {
		if kl.kind == ktapVersion {
			k.push(kl.indent, false, now).version = true
		}
		return
	}
	switch kl.kind {
	case ktapVersion:
		if !k.version(kl.indent, now) {
			k.output(l.raw)
		}
	case ktapSubtest:
		if !k.subtest(kl.indent, kl.name, now) {
			k.output(l.raw)
		}
	case ktapPlan:
		if !k.planLine(kl.indent, kl.plan, now) {
			k.output(l.raw)
		}
	case ktapResult:
		k.result(kl.indent, kl.res, now)
	case ktapBail:
		k.output(l.raw)
		k.closeAll("bail out: "+kl.name, now)
	default:
		k.output(l.raw)
	}
}

// output keeps a line as output of the test running at the innermost
// level.
func (k *ktap) output(raw string) {
	l := k.top()
	to := &l.pending
	if len(k.stack) > 1 && l.plan < 0 && l.count == 0 {
		to = &l.header
	}
	to.add(raw, k.p.lim.DiagnosticsPerTest, &k.p.diag, &k.p.doc.Dropped.Diagnostics)
}

// deeper opens a subtest level if nesting allows it.
func (k *ktap) deeper(indent int, flat bool, now time.Time) *level {
	if len(k.stack) >= k.p.lim.Depth {
		k.p.doc.Dropped.Levels++
		return nil
	}
	return k.push(indent, flat, now)
}

// version handles a version line: it starts a document, or a subtest level
// (KTAP nests by a version line, indented).
func (k *ktap) version(indent int, now time.Time) bool {
	if indent < k.top().indent {
		k.closeDeeper(indent, "a shallower KTAP version line came", now)
		if len(k.stack) == 0 {
			k.push(indent, false, now).version = true
			return true
		}
	}
	top := k.top()
	switch {
	case indent > top.indent:
		if l := k.deeper(indent, false, now); l != nil {
			l.version = true
			return true
		}
		return false
	case !top.version && top.count == 0 && top.plan < 0:
		// "# Subtest: name" came first (TAP 14, KUnit before 5.17).
		top.version = true
		return true
	case top.plan >= 0 && top.count < top.plan:
		// Tests still to come at this level, so a subtest level whose
		// lines lost their indentation (a console that strips it).
		if l := k.deeper(indent, true, now); l != nil {
			l.version = true
			return true
		}
		return false
	case len(k.stack) == 1:
		// The document is done (or never planned): a new one starts.
		k.closeAll("a new KTAP document began", now)
		k.push(indent, false, now).version = true
		return true
	}
	if l := k.deeper(indent, true, now); l != nil {
		l.version = true
		return true
	}
	return false
}

// subtest handles "# Subtest: name": it names the level its version line
// opened, or opens one (TAP 14 and KUnit before KTAP open a subtest
// without a version line).
func (k *ktap) subtest(indent int, name string, now time.Time) bool {
	top := k.top()
	if indent > top.indent {
		if l := k.deeper(indent, false, now); l != nil {
			l.name = name
			return true
		}
		return false
	}
	if indent == top.indent && top.name == "" && top.count == 0 && (len(k.stack) > 1 || top.plan < 0) {
		top.name = name
		return true
	}
	return false
}

// planLine handles "1..N" for the level at its indentation; a deeper one
// opens a subtest level (TAP 14 allows a subtest without a version line).
func (k *ktap) planLine(indent, n int, now time.Time) bool {
	top := k.top()
	switch {
	case indent > top.indent:
		l := k.deeper(indent, false, now)
		if l == nil {
			return false
		}
		l.plan = n
		return true
	case indent == top.indent && top.plan < 0:
		// Usually right after the version line; TAP also allows a plan
		// after the results.
		top.plan = n
		return true
	}
	return false
}

// result handles a result line: deeper levels it closes are its subtests.
func (k *ktap) result(indent int, r result, now time.Time) {
	var child *level
	for len(k.stack) > 1 && k.top().indent > indent {
		c := k.pop()
		if child != nil {
			// child never got its own result line in c.
			k.orphan(c, child, "no result line before its parent's", now)
		}
		child = c
	}
	top := k.top()
	if child == nil && indent > top.indent {
		// A deeper result with no version, subtest or plan line first:
		// TAP 14's bare subtest.
		if l := k.deeper(indent, false, now); l != nil {
			top = l
		}
	}
	if child == nil && top.flat && top.plan >= 0 && top.count >= top.plan {
		// An unindented subtest level whose plan is done: this result is
		// its parent's.
		child = k.pop()
		top = k.top()
	}
	t := &Test{Name: r.name, Number: r.number, Status: r.status(), Directive: r.directive, Reason: r.reason}
	if t.Number == 0 {
		t.Number = top.count + 1
	}
	t.DurationS = seconds(now.Sub(top.mark))
	top.mark = now
	var out lineList
	if child != nil {
		k.missing(child, "no result line before its parent's", now)
		t.Subtests = child.tests
		if child.plan >= 0 {
			plan := child.plan
			t.Plan = &plan
		}
		if t.Name == "" {
			t.Name = child.name
		}
		out = child.header
		out.appendList(&child.pending, k.p.lim.DiagnosticsPerTest, &k.p.diag, &k.p.doc.Dropped.Diagnostics)
	}
	out.appendList(&top.pending, k.p.lim.DiagnosticsPerTest, &k.p.diag, &k.p.doc.Dropped.Diagnostics)
	k.add(top, t, &out)
}

// add records t at level l, with out as its output, unless too many tests
// are kept already.
func (k *ktap) add(l *level, t *Test, out *lineList) {
	l.count++
	if k.kept >= k.p.lim.Tests {
		k.p.doc.Dropped.Tests++
		out.release(&k.p.diag)
		dropTree(t, &k.p.diag)
		return
	}
	k.kept++
	t.Diagnostics = out.lines()
	t.DroppedDiagnostics = out.dropped
	l.tests = append(l.tests, t)
}

// dropTree gives a dropped test's kept output back to the budget.
func dropTree(t *Test, b *budget) {
	walk([]*Test{t}, func(t *Test, _ []*Test) {
		for _, s := range t.Diagnostics {
			b.used -= len(s)
		}
	})
}

// missing adds, as errors, the tests l's plan announced that never came;
// the first of them gets l's pending output, for it is what that test
// printed before it stopped.
func (k *ktap) missing(l *level, why string, now time.Time) {
	first := l.count + 1
	for n := first; n <= l.plan; n++ {
		if k.kept >= k.p.lim.Tests {
			// A plan can promise a billion tests: past the limit they
			// are counted in one go, not made one by one.
			k.p.doc.Dropped.Tests += int64(l.plan - n + 1)
			l.count = l.plan
			l.pending.release(&k.p.diag)
			return
		}
		t := &Test{Name: "missing", Number: n, Status: StatusError,
			Reason: "no result line: " + why}
		if n == first {
			t.DurationS = seconds(now.Sub(l.mark))
		}
		out := l.pending
		l.pending = lineList{}
		k.add(l, t, &out)
	}
}

// orphan closes child, a level that ended without its result line, into
// parent as an errored test.
func (k *ktap) orphan(parent, child *level, why string, now time.Time) {
	k.missing(child, why, now)
	name := child.name
	if name == "" {
		name = "missing"
	}
	t := &Test{Name: name, Number: parent.count + 1, Status: StatusError,
		Reason: "no result line: " + why, Subtests: child.tests,
		DurationS: seconds(now.Sub(parent.mark))}
	if child.plan >= 0 {
		plan := child.plan
		t.Plan = &plan
	}
	parent.mark = now
	out := child.header
	out.appendList(&child.pending, k.p.lim.DiagnosticsPerTest, &k.p.diag, &k.p.doc.Dropped.Diagnostics)
	k.add(parent, t, &out)
}

// closeDeeper closes every level deeper than indent, as if the console
// ended there; a document shallower than indent ends too.
func (k *ktap) closeDeeper(indent int, why string, now time.Time) {
	for len(k.stack) > 0 && k.top().indent > indent {
		k.closeTop(why, now)
	}
}

// closeAll closes every open level: a crash, a bail out or the console's
// end. Tests their plans announced and that never came are errors.
func (k *ktap) closeAll(why string, now time.Time) {
	for len(k.stack) > 0 {
		k.closeTop(why, now)
	}
}

func (k *ktap) closeTop(why string, now time.Time) {
	l := k.pop()
	if len(k.stack) > 0 {
		k.orphan(k.top(), l, why, now)
		return
	}
	k.missing(l, why, now)
	l.pending.release(&k.p.diag)
	l.header.release(&k.p.diag)
	k.p.doc.Tests = append(k.p.doc.Tests, l.tests...)
}

// during names the test running now: the open suites and the running
// test's number, for a kernel problem report.
func (k *ktap) during() string {
	if len(k.stack) == 0 {
		return ""
	}
	var parts []string
	for i, l := range k.stack {
		if i == 0 {
			continue
		}
		name := l.name
		if name == "" {
			name = "#" + strconv.Itoa(k.stack[i-1].count+1)
		}
		parts = append(parts, name)
	}
	parts = append(parts, "#"+strconv.Itoa(k.top().count+1))
	return strings.Join(parts, " > ")
}
