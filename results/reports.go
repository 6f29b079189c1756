package results

import (
	"strings"
	"time"
)

// How a report ends.
type ending int

const (
	// endNatural: at the first line after its call trace that is not part
	// of a report (stalls, lockups, hung tasks, sleeping in atomic
	// context, lockdep: they print a stack and no end marker).
	endNatural ending = iota
	// endTrace: at "---[ end trace ... ]---" (WARNING, Oops, BUG()).
	endTrace
	// endRule: at a "=====" rule (KASAN, KFENCE, UBSAN frame their
	// reports between two).
	endRule
	// endPanic: at "---[ end Kernel panic - not syncing: ... ]---".
	endPanic
	// endIndent: at the first line that is not indented (a report with no
	// stack: workqueue lockup).
	endIndent
)

// header is a report's first line, recognised.
type header struct {
	kind    string
	end     ending
	fn      string   // the function the header names, if any
	file    string   // the source file it names, if any
	sub     []string // what the kind's pattern captured
	sig     func(r *report) string
	panicky bool // a "Kernel panic" line
}

// Pieces of the headers, as the kernel prints them.
var (
	warningRe    = lazyRegexp(`^WARNING: CPU: \d+ PID: \d+ at (\S+?):\d+(?: (\S+))?`)
	lockdepRe    = lazyRegexp(`^WARNING: (possible circular locking dependency detected|possible recursive locking detected|inconsistent lock state|suspicious RCU usage|possible irq lock inversion dependency detected|.*-safe -> .*-unsafe lock order detected)`)
	kasanRe      = lazyRegexp(`^BUG: KASAN: ([a-z-]+(?: or [a-z-]+)?) in (\S+)`)
	kfenceRe     = lazyRegexp(`^BUG: KFENCE: (use-after-free|out-of-bounds|invalid free|invalid read|invalid write|memory corruption)(?: (read|write))? in (\S+)`)
	nullDerefRe  = lazyRegexp(`^BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference)`)
	pagingX86Re  = lazyRegexp(`^BUG: (?:unable to handle kernel paging request|unable to handle page fault for address)`)
	spinlockRe   = lazyRegexp(`^BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU)`)
	unableRe     = lazyRegexp(`^Unable to handle kernel (NULL pointer dereference|paging request|access to user memory|execute from non-executable memory|write to read-only memory|read from unreadable memory)`)
	internalRe   = lazyRegexp(`^Internal error: ([^:\[]+)`)
	kernelBugRe  = lazyRegexp(`^kernel BUG at (\S+?):\d+!?`)
	panicRe      = lazyRegexp(`^Kernel panic - not syncing: ?(.*)`)
	ubsanRe      = lazyRegexp(`^UBSAN: (.+?) in (\S+?\.[a-zA-Z]+)(?::\d+)*\s*$`)
	rcuStallRe   = lazyRegexp(`^(?:rcu: )?INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall`)
	softLockupRe = lazyRegexp(`^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for`)
	hardLockupRe = lazyRegexp(`^(?:NMI watchdog: |watchdog: )?Watchdog detected hard LOCKUP on cpu`)
	hungTaskRe   = lazyRegexp(`^INFO: task \S+ blocked for more than \d+ seconds`)
	gpfRe        = lazyRegexp(`^(?:Oops: )?general protection fault`)
)

// detect recognises a report's first line. The kernel prints these at the
// start of the message, some with their subsystem's prefix ("watchdog: ",
// "rcu: "); a header elsewhere in a line (quoted by a test, echoed by a
// shell) is not one.
func detect(msg string) (*header, bool) {
	if msg == "" {
		return nil, false
	}
	switch msg[0] {
	case 'W', 'B', 'U', 'I', 'K', 'k', 'r', 'w', 'N', 'g', 'O':
	default:
		return nil, false
	}
	switch {
	case strings.HasPrefix(msg, "WARNING: CPU: "):
		m := warningRe.FindStringSubmatch(msg)
		if m == nil {
			return nil, false
		}
		h := &header{kind: "warning", end: endTrace, file: m[1], fn: funcOf(m[2])}
		h.sig = warningSig(h)
		return h, true
	case strings.HasPrefix(msg, "WARNING: "):
		m := lockdepRe.FindStringSubmatch(msg)
		if m == nil {
			return nil, false
		}
		h := &header{kind: "lockdep", end: endNatural, sub: m}
		h.sig = lockdepSig(m[1])
		return h, true
	case strings.HasPrefix(msg, "BUG: KASAN: "):
		m := kasanRe.FindStringSubmatch(msg)
		if m == nil {
			return &header{kind: "kasan", end: endRule, sig: fixedSig("KASAN: " + sanitize(msg[len("BUG: KASAN: "):]))}, true
		}
		h := &header{kind: "kasan", end: endRule, sub: m, fn: funcOf(m[2])}
		h.sig = kasanSig
		return h, true
	case strings.HasPrefix(msg, "BUG: KFENCE: "):
		m := kfenceRe.FindStringSubmatch(msg)
		if m == nil {
			return &header{kind: "kfence", end: endRule, sig: fixedSig("KFENCE: " + sanitize(msg[len("BUG: KFENCE: "):]))}, true
		}
		h := &header{kind: "kfence", end: endRule, sub: m, fn: funcOf(m[3])}
		what := m[1]
		if strings.HasPrefix(what, "invalid ") && what != "invalid free" {
			what = "invalid " + m[1][len("invalid "):]
		}
		h.sig = frameSig("KFENCE: "+what, "KFENCE: "+what, true, nil)
		return h, true
	case nullDerefRe.MatchString(msg):
		h := &header{kind: "oops", end: endTrace}
		h.sig = frameSig("BUG: unable to handle kernel NULL pointer dereference", "BUG: unable to handle kernel NULL pointer dereference", false, nil)
		return h, true
	case pagingX86Re.MatchString(msg):
		h := &header{kind: "oops", end: endTrace}
		h.sig = frameSig("BUG: unable to handle kernel paging request", "BUG: unable to handle kernel paging request", false, nil)
		return h, true
	case strings.HasPrefix(msg, "BUG: sleeping function called from invalid context"):
		h := &header{kind: "bug", end: endNatural}
		h.sig = frameSig("BUG: sleeping function called from invalid context", "BUG: sleeping function called from invalid context", false, nil)
		return h, true
	case strings.HasPrefix(msg, "BUG: scheduling while atomic"):
		h := &header{kind: "bug", end: endNatural}
		h.sig = frameSig("BUG: scheduling while atomic", "BUG: scheduling while atomic", false, []string{"schedule"})
		return h, true
	case strings.HasPrefix(msg, "BUG: workqueue lockup"):
		return &header{kind: "workqueue_lockup", end: endIndent, sig: fixedSig("BUG: workqueue lockup")}, true
	case softLockupRe.MatchString(msg):
		return &header{kind: "soft_lockup", end: endNatural, sig: stallSig("BUG: soft lockup")}, true
	case strings.HasPrefix(msg, "BUG: "):
		if m := spinlockRe.FindStringSubmatch(msg); m != nil {
			h := &header{kind: "bug", end: endNatural}
			t := "BUG: " + m[1] + " " + m[2]
			h.sig = frameSig(t, t, false, []string{"spin_", "_lock", "_unlock"})
			return h, true
		}
		// Any other BUG: its message up to where it starts naming
		// things (" in process foo", ": 0x...") is what it is.
		t := msg[len("BUG: "):]
		for _, sep := range []string{" in ", ": ", " at ", " - ", "!"} {
			if i := strings.Index(t, sep); i > 0 {
				t = t[:i]
			}
		}
		return &header{kind: "bug", end: endNatural, sig: fixedSig("BUG: " + sanitize(t))}, true
	case strings.HasPrefix(msg, "Unable to handle kernel "):
		m := unableRe.FindStringSubmatch(msg)
		what := "paging request"
		if m != nil {
			what = m[1]
		}
		h := &header{kind: "oops", end: endTrace}
		t := "BUG: unable to handle kernel " + what
		h.sig = frameSig(t, t, false, nil)
		return h, true
	case strings.HasPrefix(msg, "Internal error: "):
		h := &header{kind: "oops", end: endTrace}
		h.sig = frameSig("Internal error", "Internal error", false, nil)
		return h, true
	case strings.HasPrefix(msg, "kernel BUG at "):
		m := kernelBugRe.FindStringSubmatch(msg)
		h := &header{kind: "kernel_bug", end: endTrace}
		if m != nil {
			h.file = m[1]
		}
		h.sig = frameSig("kernel BUG", "kernel BUG", false, []string{"^skb_"})
		return h, true
	case strings.HasPrefix(msg, "Kernel panic - not syncing"):
		m := panicRe.FindStringSubmatch(msg)
		text := ""
		if m != nil {
			text = m[1]
		}
		h := &header{kind: "panic", end: endPanic, panicky: true, sub: []string{msg, text}}
		h.sig = panicSig(text)
		return h, true
	case strings.HasPrefix(msg, "UBSAN: "):
		h := &header{kind: "ubsan", end: endRule}
		if m := ubsanRe.FindStringSubmatch(msg); m != nil {
			h.file = m[2]
			t := "UBSAN: " + sanitize(m[1])
			h.sig = frameSig(t, t, false, []string{"ubsan", "overflow"})
		} else {
			h.sig = fixedSig("UBSAN: " + sanitize(msg[len("UBSAN: "):]))
		}
		return h, true
	case rcuStallRe.MatchString(msg):
		return &header{kind: "rcu_stall", end: endNatural, sig: stallSig("INFO: rcu detected stall")}, true
	case hardLockupRe.MatchString(msg):
		return &header{kind: "hard_lockup", end: endNatural, sig: stallSig("BUG: hard lockup")}, true
	case hungTaskRe.MatchString(msg):
		return &header{kind: "hung_task", end: endNatural, sig: func(r *report) string {
			if f := hungTaskFrame(r.sigFrames()); f != "" {
				return "INFO: task hung in " + f
			}
			return "INFO: task hung"
		}}, true
	case gpfRe.MatchString(msg):
		h := &header{kind: "oops", end: endTrace}
		h.sig = frameSig("general protection fault", "general protection fault", false, nil)
		return h, true
	}
	return nil, false
}

// fixedSig is a signature that needs no frame.
func fixedSig(s string) func(*report) string {
	return func(*report) string { return s }
}

// frameSig is "<title> in <first non-generic frame>": the header's own
// function first when useHeader (KASAN, KFENCE name the faulting function
// there), then the PC line's (an Oops's "pc : foo+0x.."), then the call
// trace. Without any frame it is bare.
func frameSig(title, bare string, useHeader bool, extra []string) func(*report) string {
	return func(r *report) string {
		var cands []string
		if useHeader && r.h.fn != "" {
			cands = append(cands, r.h.fn)
		}
		if r.pc != "" {
			cands = append(cands, r.pc)
		}
		cands = append(cands, r.sigFrames()...)
		if f := firstFrame(cands, extra); f != "" {
			return title + " in " + f
		}
		return bare
	}
}

// warningSig: "WARNING in <the function the WARNING line names>", as
// syzbot does; a WARNING in a helper that checks its callers (refcount,
// debugobjects, usercopy, kobject, lockdep) names the caller instead.
func warningSig(h *header) func(*report) string {
	type special struct{ file, title string }
	for _, s := range []special{
		{"lib/refcount.c", "WARNING: refcount bug"},
		{"lib/debugobjects.c", "WARNING: ODEBUG bug"},
		{"mm/usercopy.c", "WARNING: bad usercopy"},
		{"lib/kobject.c", "WARNING: kobject bug"},
		{"kernel/locking/lockdep.c", "WARNING: locking bug"},
	} {
		if h.file == s.file {
			return frameSig(s.title, s.title, false, []string{"refcount", "debug_", "usercopy", "__check", "kobject_", "lock_sock", "release_sock"})
		}
	}
	if h.fn != "" {
		return fixedSig("WARNING in " + stripSyscall(h.fn))
	}
	return frameSig("WARNING", "WARNING", false, nil)
}

// lockdepSig: lockdep reports are named by the lock's taker ("at:
// foo+0x.." after "is trying to acquire lock:"), else by the stack.
func lockdepSig(what string) func(*report) string {
	title := "WARNING: " + what
	switch {
	case strings.Contains(what, "locking dependency") || strings.Contains(what, "recursive locking") ||
		strings.Contains(what, "lock order") || strings.Contains(what, "lock inversion"):
		title = "possible deadlock"
	case what == "inconsistent lock state":
		title = "inconsistent lock state"
	}
	extra := []string{"lock_sock", "release_sock"}
	if what == "suspicious RCU usage" {
		extra = append(extra, "rcu", "kmem", "slab")
	}
	return func(r *report) string {
		cands := append([]string{}, r.lockAt...)
		cands = append(cands, r.sigFrames()...)
		if f := firstFrame(cands, extra); f != "" {
			return title + " in " + f
		}
		return title
	}
}

// kasanSig: "KASAN: use-after-free Read in foo"; the access comes on the
// line after the header.
func kasanSig(r *report) string {
	what := r.h.sub[1]
	extra := []string{"kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"}
	if strings.Contains(what, "free") && strings.Contains(what, "invalid") || what == "double-free" {
		// A bad free is in the freeing helpers; its caller is the bug.
		what = "invalid-free"
		extra = append(extra, "slab_", "kfree", "vunmap", "vfree", "kmem_cache_free")
	} else if r.access != "" {
		what += " " + r.access
	}
	return frameSig("KASAN: "+what, "KASAN: "+what, true, extra)(r)
}

// stallSig names a stall or lockup by stallFrame.
func stallSig(title string) func(*report) string {
	return func(r *report) string {
		frames := r.allFrames
		if r.pc != "" {
			frames = append([]string{r.pc}, frames...)
		}
		if f := stallFrame(frames); f != "" {
			return title + " in " + f
		}
		return title
	}
}

// panicSig: "kernel panic: <message sanitized>", as syzbot names a panic
// that comes alone; the frame of a panic is panic's caller, which for
// most messages is always the same function (sysrq, init's death), so
// the message says more.
func panicSig(text string) func(*report) string {
	return func(r *report) string {
		switch {
		case strings.HasPrefix(text, "stack-protector: Kernel stack is corrupted in: "):
			fn := funcOf(strings.TrimSpace(text[len("stack-protector: Kernel stack is corrupted in: "):]))
			if fn == "" {
				fn = firstFrame(r.sigFrames(), []string{"stack_chk"})
			}
			if fn != "" {
				return "kernel panic: stack is corrupted in " + fn
			}
			return "kernel panic: stack is corrupted"
		case strings.HasPrefix(text, "kernel stack overflow"):
			if f := stallFrame(r.allFrames); f != "" {
				return "kernel stack overflow in " + f
			}
			return "kernel stack overflow"
		case strings.HasPrefix(text, "Attempted to kill init!"):
			return "kernel panic: Attempted to kill init!"
		}
		return "kernel panic: " + sanitize(text)
	}
}

// consequence tells a panic that only reports an earlier problem going
// fatal (panic_on_oops, panic_on_warn, hung_task_panic, softlockup_panic,
// hardlockup_panic, panic_on_rcu_stall): it belongs to that report.
func consequence(panicText string) bool {
	for _, s := range []string{"Fatal exception", "panic_on_warn set", "panic_on_oops",
		"hung_task: blocked tasks", "softlockup: hung tasks", "Hard LOCKUP", "RCU Stall",
		"kfence", "KASAN"} {
		if strings.Contains(panicText, s) {
			return true
		}
	}
	return false
}

// continues tells a header that is part of the report already open,
// rather than a new one: the arm64 "Internal error: Oops" after "Unable to
// handle kernel" or "kernel BUG at", and a panic (the report went fatal).
func continues(h *header, msg string, open *report) bool {
	if h.panicky {
		return true
	}
	return strings.HasPrefix(msg, "Internal error") && !strings.HasPrefix(open.p.Title, "Internal error") &&
		(open.h.kind == "oops" || open.h.kind == "kernel_bug")
}

// report is the report being read.
type report struct {
	p     *Problem
	h     *header
	lines int // lines read, kept or not
	bytes int
	// The caller id of its header: with CONFIG_PRINTK_CALLER another
	// task's lines interleaved in it are not its lines.
	caller string

	pc        string   // the function of its "pc : " or "RIP: " line
	access    string   // KASAN's "Read" or "Write"
	lockAt    []string // lockdep's "at: foo+0x.." functions
	allFrames []string // every reliable frame of every trace, in order
	firstEnd  int      // frames in its first trace: the one that signs
	inTrace   bool
	sawFrame  bool
	pre       int  // lines before its first frame
	frozen    bool // frames no longer count: a folded panic's own stack
	sig       string
}

// sigFrames are the frames of the first trace: later ones are other CPUs
// or the allocation and free stacks of KASAN.
func (r *report) sigFrames() []string {
	if r.firstEnd > 0 {
		return r.allFrames[:r.firstEnd]
	}
	return r.allFrames
}

const (
	maxFrames    = 128
	maxPreTrace  = 200  // a report's lines before its first frame
	maxReportRaw = 2000 // lines read into one report before it is closed
	foldWindow   = 100  // lines after a report in which a panic is its consequence
)

// reporter finds kernel problem reports in the console.
type reporter struct {
	p       *Parser
	open    *report
	last    *report // the report closed last, for a panic that follows it
	since   int     // lines since last closed
	prev    string  // the previous line's message
	prevRaw string
	sigs    map[string]*Signature
	repeats int
}

func (rp *reporter) line(l line, now time.Time) {
	defer func() { rp.prev, rp.prevRaw = l.msg, l.raw }()
	rp.since++
	if rp.open != nil {
		// With CONFIG_PRINTK_CALLER, another task's lines interleaved in a
		// report are not its lines (but may start a report of their own).
		other := rp.open.caller != "" && l.caller != "" && l.caller != rp.open.caller && !isCPUCaller(l.caller)
		h, isHeader := detect(l.msg)
		switch {
		case isHeader && !other && continues(h, l.msg, rp.open):
			rp.add(l)
			if h.panicky {
				rp.fold()
			}
			return
		case isHeader:
			rp.close()
		case other:
			return
		case rp.feed(l):
			return
		}
	}
	h, ok := detect(l.msg)
	if !ok {
		return
	}
	text := ""
	if h.panicky && len(h.sub) > 1 {
		text = h.sub[1]
	}
	if h.panicky && consequence(text) && rp.last != nil && rp.since <= foldWindow {
		// The panic of an earlier report: back into it.
		rp.open = rp.last
		rp.last = nil
		rp.add(l)
		rp.fold()
		return
	}
	rp.start(h, l, now)
}

// isCPUCaller tells a "[C1]" caller id: interrupt context, which prints
// the traces of other CPUs for a stall.
func isCPUCaller(c string) bool { return strings.HasPrefix(c, "C") }

// start opens a report at its header line.
func (rp *reporter) start(h *header, l line, now time.Time) {
	p := &Problem{Kind: h.kind, Title: l.msg, File: h.file, During: rp.p.ktap.during(),
		ConsoleS: seconds(now.Sub(rp.p.start)), KernelS: l.ktime}
	r := &report{p: p, h: h, caller: l.caller}
	rp.open = r
	// The kernel's line before some headers belongs to them.
	prev := strings.TrimSpace(rp.prev)
	if (prev == "------------[ cut here ]------------" && (h.kind == "warning" || h.kind == "kernel_bug")) ||
		(isRule(prev) && (h.kind == "kasan" || h.kind == "kfence" || h.kind == "ubsan")) {
		rp.keepLine(rp.prevRaw)
	}
	rp.add(l)
	if h.panicky {
		p.Fatal = true
		rp.p.ktap.closeAll("a kernel panic", now)
	}
}

// fold makes the open report fatal: a panic came with it. The panic's own
// stack is not the problem's, so frames stop counting, and the report
// now ends where the panic's does.
func (rp *reporter) fold() {
	r := rp.open
	r.p.Fatal = true
	r.frozen = true
	r.inTrace = false
	r.h = &header{kind: r.h.kind, end: endPanic, fn: r.h.fn, file: r.h.file, sub: r.h.sub, sig: r.h.sig}
	rp.p.ktap.closeAll("a kernel panic", rp.p.clock())
}

// feed takes a line into the open report, or closes it when the line is
// past its end; it reports whether the line was the report's.
func (rp *reporter) feed(l line) bool {
	r := rp.open
	msg := l.msg
	trimmed := strings.TrimSpace(msg)
	fn, unreliable, isFrame := parseFrame(trimmed)

	switch r.h.end {
	case endNatural:
		if r.sawFrame && !isFrame && !partOfReport(msg, trimmed, l.k) {
			rp.close()
			return false
		}
		if !r.sawFrame && (r.pre >= maxPreTrace || isKTAPStructure(l.k)) {
			rp.close()
			return false
		}
	case endIndent:
		if trimmed == "" || (msg[0] != ' ' && msg[0] != '\t' && !isWorkqueueLine(trimmed)) || isKTAPStructure(l.k) {
			rp.close()
			return false
		}
	}
	rp.add(l)
	if !r.sawFrame {
		r.pre++
	}

	switch {
	case isTraceStart(trimmed):
		if !r.frozen {
			r.inTrace = true
			if r.sawFrame && r.firstEnd == 0 {
				r.firstEnd = len(r.allFrames)
			}
		}
	case isFrame:
		if r.inTrace {
			if !unreliable && len(r.allFrames) < maxFrames {
				r.allFrames = append(r.allFrames, fn)
			}
			r.sawFrame = true
		}
	case isTraceMarker(trimmed):
	default:
		if r.inTrace && r.sawFrame && r.firstEnd == 0 {
			r.firstEnd = len(r.allFrames)
		}
		r.inTrace = false
		rp.details(r, trimmed)
	}

	switch r.h.end {
	case endTrace:
		if strings.HasPrefix(trimmed, "---[ end trace") {
			rp.close()
		}
	case endRule:
		if isRule(trimmed) {
			rp.close()
		}
	case endPanic:
		if strings.HasPrefix(trimmed, "---[ end Kernel panic") {
			rp.close()
		}
	}
	if rp.open == r && r.lines >= maxReportRaw {
		rp.close()
	}
	return true
}

// details picks from a report's lines what its signature needs.
func (rp *reporter) details(r *report, trimmed string) {
	if r.frozen {
		return
	}
	switch {
	case r.pc == "" && strings.HasPrefix(trimmed, "pc : "):
		r.pc = funcOf(strings.TrimSpace(trimmed[len("pc : "):]))
	case r.pc == "" && strings.HasPrefix(trimmed, "RIP: "):
		// "RIP: 0010:foo+0x1c/0x40"
		if i := strings.IndexByte(trimmed, ':'); i > 0 {
			rest := trimmed[i+1:]
			if j := strings.IndexByte(rest, ':'); j >= 0 {
				r.pc = funcOf(strings.Fields(rest[j+1:] + " ")[0])
			}
		}
	case r.access == "" && (strings.HasPrefix(trimmed, "Read of size") || strings.HasPrefix(trimmed, "Write of size")):
		r.access, _, _ = strings.Cut(trimmed, " ")
	case strings.Contains(trimmed, ", at: ") && len(r.lockAt) < 4:
		// lockdep: "ffff0000c1a2b3c8 (&foo->lock){+.+.}-{3:3}, at: foo_bar+0x2c/0x60"
		_, at, _ := strings.Cut(trimmed, ", at: ")
		if fn := funcOf(strings.Fields(at + " ")[0]); fn != "" {
			r.lockAt = append(r.lockAt, fn)
		}
	}
}

// add keeps one line of the open report, within the limits.
func (rp *reporter) add(l line) {
	rp.open.lines++
	rp.keepLine(l.raw)
}

func (rp *reporter) keepLine(raw string) {
	r := rp.open
	lim := rp.p.lim
	if len(r.p.Report) >= lim.ReportLines || r.bytes+len(raw) > lim.ReportBytes {
		r.p.DroppedLines++
		return
	}
	r.p.Report = append(r.p.Report, raw)
	r.bytes += len(raw)
}

// close ends the open report: its signature is counted, and the report
// kept if it is a signature's first or one of the few repeats kept.
func (rp *reporter) close() {
	r := rp.open
	rp.open = nil
	rp.last = r
	rp.since = 0
	if r.sig != "" {
		// A report reopened by a panic was counted already.
		return
	}
	r.sig = r.h.sig(r)
	r.p.Signature = r.sig
	if rp.sigs == nil {
		rp.sigs = make(map[string]*Signature)
	}
	d := rp.p.doc
	s := rp.sigs[r.sig]
	switch {
	case s == nil && len(rp.sigs) >= rp.p.lim.Signatures:
		d.Dropped.Signatures++
		return
	case s == nil:
		s = &Signature{Signature: r.sig, Kind: r.h.kind, FirstProblem: len(d.Problems)}
		rp.sigs[r.sig] = s
		d.Signatures = append(d.Signatures, s)
	case rp.repeats >= rp.p.lim.Repeats:
		s.Count++
		d.Dropped.Problems++
		d.Dropped.ReportLines += int64(r.p.DroppedLines)
		return
	default:
		rp.repeats++
	}
	s.Count++
	d.Problems = append(d.Problems, r.p)
}

// closeOpen ends the report open when the console ends.
func (rp *reporter) closeOpen() {
	if rp.open != nil {
		rp.close()
	}
	for _, p := range rp.p.doc.Problems {
		rp.p.doc.Dropped.ReportLines += int64(p.DroppedLines)
	}
}

// isRule tells the "=====" lines KASAN, KFENCE and UBSAN frame reports
// with.
func isRule(s string) bool {
	if len(s) < 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

func isTraceStart(s string) bool {
	return s == "Call trace:" || s == "Call Trace:" || s == "Backtrace:" ||
		strings.HasPrefix(s, "Call trace:") || strings.HasPrefix(s, "Call Trace:")
}

// isTraceMarker tells the lines inside an x86 trace that say where it is.
func isTraceMarker(s string) bool {
	switch s {
	case "<IRQ>", "</IRQ>", "<TASK>", "</TASK>", "<NMI>", "</NMI>", "<EOI>", "<SOFTIRQ>", "</SOFTIRQ>":
		return true
	}
	return strings.HasPrefix(s, "Exception stack(")
}

func isKTAPStructure(k ktapLine) bool {
	switch k.kind {
	case ktapVersion, ktapPlan, ktapResult, ktapSubtest, ktapBail:
		return true
	}
	return false
}

func isWorkqueueLine(s string) bool {
	return strings.HasPrefix(s, "Showing ") || strings.HasPrefix(s, "workqueue ") || strings.HasPrefix(s, "pool ")
}

// reportLinePrefixes start the lines a report's text has after its trace:
// registers, the CPU and task lines of other CPUs' traces, the stall
// detector's notes, the panic's last words.
var reportLinePrefixes = []string{
	"Call trace:", "Call Trace:", "Code:", "---[ ", "Sending NMI", "NMI backtrace",
	"Task dump for CPU", "CPU: ", "Hardware name:", "Workqueue:", "task:", "Modules linked in:",
	"pstate:", "pc :", "lr :", "sp :", "RIP:", "RSP:", "RAX:", "RDX:", "RBP:", "R10:", "R13:",
	"FS:", "CS:", "CR2:", "DR0:", "DR3:", "DR6:", "irq event stamp:", "hardirqs last",
	"softirqs last", "rcu:", "Exception stack", "Showing ", "Kernel Offset:", "PHYS_OFFSET:",
	"CPU features:", "Memory Limit:", "SMP: stopping", "Disabling lock debugging", "Tainted:",
	"Not tainted", "stack backtrace:", "INFO: lockdep is turned off", "Mem abort info:",
	"Data abort info:", "Internal error:", "Oops",
}

// partOfReport tells a line after a trace that still belongs to the
// report: indented lines (frames with file names, registers, the other
// CPUs' details), and lines with a report's prefixes. A KTAP line does
// not, however indented.
func partOfReport(msg, trimmed string, k ktapLine) bool {
	if trimmed == "" || isKTAPStructure(k) || k.kind == ktapDiag {
		return false
	}
	if msg[0] == ' ' || msg[0] == '\t' || isTraceMarker(trimmed) {
		return true
	}
	for _, p := range reportLinePrefixes {
		if strings.HasPrefix(trimmed, p) {
			return true
		}
	}
	// arm64 registers: "x29: ffff80000a1b3d70 x28: ..."
	return len(trimmed) > 4 && trimmed[0] == 'x' && trimmed[1] >= '0' && trimmed[1] <= '9' &&
		strings.Contains(trimmed[:4], ":")
}
