package results

// budget bounds the bytes all the diagnostic lists keep together: per-test
// caps alone would let ten thousand tests of chatty output grow without
// bound.
type budget struct {
	used, max int
}

// lineList keeps a bounded list of lines: the first max/2 and the last
// max-max/2, for a test's output is most telling at its start (what ran)
// and just before its result (why it failed). What falls between is
// counted in dropped.
type lineList struct {
	head    []string
	tail    []string // a ring once full; next is the oldest entry
	next    int
	dropped int
}

// add keeps s if the list and the budget have room, else counts it; a full
// tail drops its oldest line for s.
func (l *lineList) add(s string, max int, b *budget, lost *int64) {
	headMax := max / 2
	tailMax := max - headMax
	switch {
	case b.used+len(s) > b.max:
		// Past the budget nothing more is kept, not even by dropping an
		// older tail line: the budget is for the whole document.
	case len(l.head) < headMax:
		l.head = append(l.head, s)
		b.used += len(s)
		return
	case tailMax == 0:
	case len(l.tail) < tailMax:
		l.tail = append(l.tail, s)
		b.used += len(s)
		return
	default:
		b.used += len(s) - len(l.tail[l.next])
		l.tail[l.next] = s
		l.next = (l.next + 1) % tailMax
	}
	l.dropped++
	*lost++
}

// lines is what the list kept, in order.
func (l *lineList) lines() []string {
	if len(l.head)+len(l.tail) == 0 {
		return nil
	}
	out := make([]string, 0, len(l.head)+len(l.tail))
	out = append(out, l.head...)
	out = append(out, l.tail[l.next:]...)
	return append(out, l.tail[:l.next]...)
}

// release gives the list's bytes back to the budget and empties it.
func (l *lineList) release(b *budget) {
	for _, s := range l.head {
		b.used -= len(s)
	}
	for _, s := range l.tail {
		b.used -= len(s)
	}
	*l = lineList{}
}

// appendList moves other's lines after l's, within l's bounds.
func (l *lineList) appendList(other *lineList, max int, b *budget, lost *int64) {
	lines, dropped := other.lines(), other.dropped
	other.release(b)
	l.dropped += dropped
	for _, s := range lines {
		l.add(s, max, b, lost)
	}
}
