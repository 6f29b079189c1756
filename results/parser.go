package results

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits bound what a Parser keeps, so a guest that floods its console, or
// prints a line that never ends, cannot grow gokvm's memory. A zero field
// takes its default (DefaultLimits).
type Limits struct {
	// LineBytes is the longest line kept; the rest of a longer line is
	// counted and dropped.
	LineBytes int
	// DiagnosticsPerTest lines are kept with each test (its first and last
	// halves); DiagnosticBytes bounds them all together.
	DiagnosticsPerTest int
	DiagnosticBytes    int
	// Tests is the most test results kept, Depth the deepest nesting.
	Tests int
	Depth int
	// Signatures is the most distinct signatures kept (each with its first
	// report), Repeats the most further reports of seen signatures.
	Signatures int
	Repeats    int
	// ReportLines and ReportBytes bound one report's kept lines.
	ReportLines int
	ReportBytes int
	// ConsoleTail is how many of the console's last lines are kept.
	ConsoleTail int
}

// DefaultLimits keeps at most about 30 MiB in all: 8 MiB of test output,
// 256 first reports and 16 repeats of at most 64 KiB each, and small
// change.
func DefaultLimits() Limits {
	return Limits{
		LineBytes:          4096,
		DiagnosticsPerTest: 64,
		DiagnosticBytes:    8 << 20,
		Tests:              10000,
		Depth:              16,
		Signatures:         256,
		Repeats:            16,
		ReportLines:        400,
		ReportBytes:        64 << 10,
		ConsoleTail:        32,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.LineBytes, &d.LineBytes}, {&l.DiagnosticsPerTest, &d.DiagnosticsPerTest},
		{&l.DiagnosticBytes, &d.DiagnosticBytes}, {&l.Tests, &d.Tests}, {&l.Depth, &d.Depth},
		{&l.Signatures, &d.Signatures}, {&l.Repeats, &d.Repeats}, {&l.ReportLines, &d.ReportLines},
		{&l.ReportBytes, &d.ReportBytes}, {&l.ConsoleTail, &d.ConsoleTail},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Options configure a Parser.
type Options struct {
	// Name names the run in the document (JUnit's testsuites name);
	// "gokvm" when empty.
	Name string
	// Clock reads the time; time.Now when nil. Tests give a fake one so
	// durations are deterministic. It is read once at NewParser (the VM's
	// start), once a console line, and at Finish.
	Clock func() time.Time
	// Limits bound the memory kept; zero fields take DefaultLimits.
	Limits Limits
}

// Parser reads a guest's console as it comes and builds its Document. It
// is an io.Writer whose Write never fails, so it can sit in an
// io.MultiWriter beside the terminal. Safe for use from several
// goroutines.
type Parser struct {
	mu    sync.Mutex
	lim   Limits
	clock func() time.Time
	start time.Time
	doc   *Document
	done  bool

	console lineBuf   // the line so far written through Write
	sources []*source // more sources of lines (Source)

	tail     []string // ring of the console's last lines
	tailNext int

	diag    budget
	ktap    ktap
	reports reporter
}

// NewParser starts a parser; the VM's time counts from now.
func NewParser(opts Options) *Parser {
	p := &Parser{lim: opts.Limits.withDefaults(), clock: opts.Clock}
	if p.clock == nil {
		p.clock = time.Now
	}
	name := opts.Name
	if name == "" {
		name = "gokvm"
	}
	p.start = p.clock()
	p.doc = &Document{Format: FormatVersion, Name: name, Outcome: OutcomeUnknown}
	p.console.buf = make([]byte, 0, p.lim.LineBytes)
	p.diag.max = p.lim.DiagnosticBytes
	p.ktap.p = p
	p.reports.p = p
	return p
}

// Write takes console output in any chunks. It always returns len(b), nil:
// a console writer that failed would stop an io.MultiWriter, and with it
// the terminal. After Finish it discards.
func (p *Parser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.feed(&p.console, b)
	return len(b), nil
}

// lineBuf is one source's line so far, at most Limits.LineBytes.
type lineBuf struct {
	buf       []byte
	truncated bool // the line so far lost bytes
}

// source is a Parser's writer for another source of lines (Source).
type source struct {
	p  *Parser
	lb lineBuf
}

func (s *source) Write(b []byte) (int, error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.p.feed(&s.lb, b)
	return len(b), nil
}

// Source is a writer for another stream of lines read into the same
// document, such as a sandboxed command's output beside the kernel's
// console: each stream's lines are put together apart, so that lines
// written to the two at once are not mixed. Like Write, it never fails.
// Finish ends a last line of every source.
func (p *Parser) Source() io.Writer {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &source{p: p, lb: lineBuf{buf: make([]byte, 0, p.lim.LineBytes)}}
	p.sources = append(p.sources, s)
	return s
}

// feed takes a chunk of one source's lines; p.mu is held.
func (p *Parser) feed(lb *lineBuf, b []byte) {
	if p.done {
		return
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
			b = b[i+1:]
		} else {
			b = nil
		}
		if room := p.lim.LineBytes - len(lb.buf); len(chunk) > room {
			p.doc.Dropped.LineBytes += int64(len(chunk) - room)
			lb.truncated = true
			chunk = chunk[:room]
		}
		lb.buf = append(lb.buf, chunk...)
		if i >= 0 {
			p.endLine(lb)
		}
	}
}

// Finish ends the console: a last line without its newline counts, open
// reports and test levels are closed (their missing tests become errors),
// and the document is complete. Later calls return the same document.
func (p *Parser) Finish() *Document {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return p.doc
	}
	p.endPartial(&p.console)
	for _, s := range p.sources {
		p.endPartial(&s.lb)
	}
	now := p.clock()
	p.reports.closeOpen()
	p.ktap.closeAll("the console ended", now)
	d := p.doc
	d.DurationS = seconds(now.Sub(p.start))
	if len(p.tail) > 0 {
		d.ConsoleTail = append(p.tail[p.tailNext:len(p.tail):len(p.tail)], p.tail[:p.tailNext]...)
	}
	if d.Tests == nil {
		d.Tests = []*Test{}
	}
	if d.Problems == nil {
		d.Problems = []*Problem{}
	}
	if d.Signatures == nil {
		d.Signatures = []*Signature{}
	}
	p.done = true
	return d
}

// endPartial ends a source's last line, one without its newline.
func (p *Parser) endPartial(lb *lineBuf) {
	if len(lb.buf) > 0 || lb.truncated {
		p.endLine(lb)
	}
}

// endLine handles the line in lb.
func (p *Parser) endLine(lb *lineBuf) {
	if lb.truncated {
		p.doc.Dropped.LongLines++
		lb.truncated = false
	}
	raw := strings.TrimRight(string(lb.buf), "\r")
	lb.buf = lb.buf[:0]
	now := p.clock()
	l := parseLine(raw)

	if len(p.tail) < p.lim.ConsoleTail {
		p.tail = append(p.tail, raw)
	} else {
		p.tail[p.tailNext] = raw
		p.tailNext = (p.tailNext + 1) % len(p.tail)
	}
	if p.doc.BootS == nil && isInitLine(l.msg) {
		boot := seconds(now.Sub(p.start))
		p.doc.BootS = &boot
		p.doc.BootKernelS = l.ktime
	}
	// The test tree first, so a panic's own line is still the crashed
	// test's output when the reporter closes the open levels.
	p.ktap.line(l, now)
	p.reports.line(l, now)
}

// line is one console line, taken apart.
type line struct {
	raw    string   // as printed, without the line end
	msg    string   // without the printk prefix and carriage returns
	ktime  *float64 // the printk timestamp, if any
	caller string   // the printk caller id ("T123", "C1"), if any
	k      ktapLine // what it is in KTAP
}

func parseLine(raw string) line {
	l := line{raw: raw}
	l.msg, l.ktime, l.caller = stripPrefix(raw)
	if strings.IndexByte(l.msg, '\r') >= 0 {
		// A carriage return mid-line is a terminal's overwrite; matching
		// goes by the characters, not how they were shown.
		l.msg = strings.ReplaceAll(l.msg, "\r", "")
	}
	l.k = classify(l.msg)
	return l
}

// stripPrefix takes the printk prefix off a console line: an optional
// "<N>" log level, the "[   12.345678]" timestamp, an optional
// CONFIG_PRINTK_CALLER "[  T123]" id, and the one space after them. A
// line without a timestamp is returned whole.
func stripPrefix(s string) (msg string, ktime *float64, caller string) {
	i := skipLevel(s, 0)
	if i >= len(s) || s[i] != '[' {
		return s[i:], nil, ""
	}
	j := i + 1
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for k < len(s) && (s[k] >= '0' && s[k] <= '9' || s[k] == '.') {
		k++
	}
	if k == j || k >= len(s) || s[k] != ']' || strings.IndexByte(s[j:k], '.') < 0 {
		return s[i:], nil, ""
	}
	if t, err := strconv.ParseFloat(s[j:k], 64); err == nil {
		ktime = &t
	}
	k++
	// [  T123] or [    C1]
	if k < len(s) && s[k] == '[' {
		m := k + 1
		for m < len(s) && s[m] == ' ' {
			m++
		}
		if m < len(s) && (s[m] == 'T' || s[m] == 'C') {
			n := m + 1
			for n < len(s) && s[n] >= '0' && s[n] <= '9' {
				n++
			}
			if n > m+1 && n < len(s) && s[n] == ']' {
				caller = s[m:n]
				k = n + 1
			}
		}
	}
	if k < len(s) && s[k] == ' ' {
		k++
	}
	k = skipLevel(s, k)
	return s[k:], ktime, caller
}

// skipLevel skips a "<N>" printk level at s[i:].
func skipLevel(s string, i int) int {
	if i+2 < len(s) && s[i] == '<' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == '>' {
			return j + 1
		}
	}
	return i
}

// isInitLine tells the kernel's "Run /init as init process" (or
// /sbin/init...): the end of the kernel's boot and the first moment of
// userspace.
func isInitLine(msg string) bool {
	return strings.HasPrefix(msg, "Run ") && strings.HasSuffix(strings.TrimRight(msg, " "), " as init process")
}
