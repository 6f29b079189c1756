package ninep

import (
	"encoding/binary"
	"sort"
)

// A restored device's server is a fresh one, with no fids; the guest
// goes on using those it held. Before the queue's goroutine takes the
// guest's first request, the device gives the server the saved session
// on tags of its own, as unlink.go does: the Tversion, then each fid
// made again by its path, walked from the nearest fid of the same attach
// already made again above it (as the guest walked them, so that the
// directories between are held once, not once per fid: the share's
// descriptor budget is the saved one's), then opened with its saved
// flags, less those that create or truncate. A fid that cannot be made
// again (its file is gone, or is another file: another kind, or another
// inode in the same directory), or that was lost, is left out, so that
// the guest's next use of it fails (EBADF) rather than reach another
// file; the device logs how many.

// 9P2000.L open flags a reopen drops: the file is there, and its data is
// what the guest wrote since it created or truncated it.
const (
	dotlCreat = 0o100
	dotlExcl  = 0o200
)

// replayed is a fid made again, for the table.
type replayed struct {
	saved *FidState
	qid   *qid
}

// pathNode is a node of the saved paths, for finding the fid nearest
// above one.
type pathNode struct {
	children map[string]*pathNode
	fid      uint32
	has      bool
}

func (p *pathNode) child(name string) *pathNode {
	c := p.children[name]
	if c == nil {
		c = &pathNode{}
		if p.children == nil {
			p.children = map[string]*pathNode{}
		}
		p.children[name] = c
	}
	return c
}

// replay gives the fresh server the saved session st, then lets the
// queue's goroutine go. False once the device is stopping.
func (s *session) replay(st *State) bool {
	defer func() {
		// Done, stopping, or failed (a panic the caller recovers): a
		// drain waits no more.
		s.mu.Lock()
		s.replaying = false
		s.wake()
		s.mu.Unlock()
	}()
	return s.replayFids(st)
}

func (s *session) replayFids(st *State) bool {
	d := s.d
	if st.Version != "" {
		r, ok := s.internal(func(tag uint16) []byte {
			b := binary.LittleEndian.AppendUint32(nil, st.Msize)
			return frame(msgTversion, tag, appendStr(b, st.Version))
		})
		if !ok {
			return false
		}
		if r[4] != msgRversion || len(r) < headerSize+4 {
			d.logf("the fresh 9P server refused version %q: none of the %d saved fids is reopened", st.Version, len(st.Fids))
			return true
		}
		rd := &reader{b: r[headerSize:]}
		m := rd.u32()
		s.mu.Lock()
		if m != 0 {
			s.msize = min(max(m, MinMsize), MaxMsize)
		}
		s.fids.version = rd.str()
		s.mu.Unlock()
	}
	sameRoot := st.RootDev == d.share.rootDev && st.RootIno == d.share.rootIno
	if !sameRoot && len(st.Fids) > 0 {
		d.logf("restored onto another directory than the saved one: the guest's fids are found by their names alone")
	}

	// Shallower first, so that a fid is made again before those below
	// it, and attach by attach, so that one root fid serves each.
	var live []*FidState
	for i := range st.Fids {
		if !st.Fids[i].Lost {
			live = append(live, &st.Fids[i])
		}
	}
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i], live[j]
		if a.Attach != b.Attach {
			return a.Attach < b.Attach
		}
		if len(a.Path) != len(b.Path) {
			return len(a.Path) < len(b.Path)
		}
		return a.Fid < b.Fid
	})

	var made []replayed
	var root *pathNode
	attach := -1          // the attach root is of
	rootAttached := false // reservedFid is attached for attach
	clunkRoot := func() bool {
		if !rootAttached {
			return true
		}
		rootAttached = false
		_, ok := s.internal(clunkMsg(reservedFid))
		return ok
	}
	for _, f := range live {
		if f.Attach != attach {
			if !clunkRoot() {
				return false
			}
			attach, root = f.Attach, &pathNode{}
		}
		q, ok, alive := s.remake(f, st.Attaches[f.Attach].id(), root, &rootAttached, sameRoot)
		if !alive {
			return false
		}
		if ok {
			made = append(made, replayed{saved: f, qid: q})
		}
	}
	if !clunkRoot() {
		return false
	}

	// Then open those that were: a walk from an open fid would be
	// refused.
	kept := made[:0]
	for _, m := range made {
		if m.saved.Open {
			r, ok := s.internal(lopenMsg(m.saved.Fid, reopenFlags(m.saved.Flags)))
			if !ok {
				return false
			}
			if r[4] != msgTlopen+1 {
				if _, ok := s.internal(clunkMsg(m.saved.Fid)); !ok {
					return false
				}
				continue
			}
		}
		kept = append(kept, m)
	}

	s.mu.Lock()
	for _, m := range kept {
		f := m.saved
		s.fids.attach(f.Fid, st.Attaches[f.Attach].id(), f.Path)
		if t := s.fids.fids[f.Fid]; t != nil {
			t.open, t.flags = f.Open, f.Flags
			if m.qid != nil {
				t.qid, t.hasQID = *m.qid, true
			}
		}
	}
	s.mu.Unlock()
	if n := len(st.Fids) - len(kept); n > 0 {
		d.logf("%d of the %d saved fids could not be reopened (their files removed while open, or gone or changed on the host since): the guest's next use of each fails", n, len(st.Fids))
	}
	return true
}

// remake makes fid f of attach a again on the server, from the nearest
// fid above it in root (or from reservedFid attached to the share's
// root, which *rootAttached says), and checks that it is the file saved.
// It returns the file's QID when known, whether f was made, and false
// for alive once the device is stopping.
func (s *session) remake(f *FidState, a attachID, root *pathNode, rootAttached *bool, sameRoot bool) (q *qid, made, alive bool) {
	attachMsg := func(fid uint32) func(uint16) []byte {
		return func(tag uint16) []byte {
			b := binary.LittleEndian.AppendUint32(nil, fid)
			b = binary.LittleEndian.AppendUint32(b, noFid)
			b = appendStr(b, a.uname)
			b = appendStr(b, "") // paths are from the share's root
			b = binary.LittleEndian.AppendUint32(b, a.nUname)
			return frame(msgTattach, tag, b)
		}
	}
	if len(f.Path) == 0 {
		r, ok := s.internal(attachMsg(f.Fid))
		if !ok {
			return nil, false, false
		}
		if r[4] != msgTattach+1 {
			return nil, false, true
		}
		got := (&reader{b: r[headerSize:]}).qid()
		if !sameFile(f.QID, got, sameRoot) {
			_, ok := s.internal(clunkMsg(f.Fid))
			return nil, false, ok
		}
		if !root.has {
			root.fid, root.has = f.Fid, true
		}
		return &got, true, true
	}

	// The nearest fid made again at or above f's path.
	src, from := root.fid, 0
	found := root.has
	n := root
	for i, name := range f.Path {
		n = n.child(name)
		if n.has {
			src, from, found = n.fid, i+1, true
		}
	}
	if !found {
		if !*rootAttached {
			r, ok := s.internal(attachMsg(reservedFid))
			if !ok {
				return nil, false, false
			}
			if r[4] != msgTattach+1 {
				return nil, false, true
			}
			*rootAttached = true
		}
		src, from = reservedFid, 0
	}

	// In walks of at most maxWalkNames, as the guest's are: the first
	// from src to f, the next ones from f to itself.
	names := f.Path[from:]
	var last *qid
	for first := true; first || len(names) > 0; first = false {
		k := min(len(names), maxWalkNames)
		r, ok := s.internal(walkMsg(src, f.Fid, names[:k]))
		if !ok {
			return nil, false, false
		}
		if r[4] != msgRwalk || int(binary.LittleEndian.Uint16(r[headerSize:])) != k {
			if !first {
				// f is made, at a directory on the way.
				if _, ok := s.internal(clunkMsg(f.Fid)); !ok {
					return nil, false, false
				}
			}
			return nil, false, true
		}
		if k > 0 {
			rd := &reader{b: r[headerSize+2+13*(k-1):]}
			q := rd.qid()
			last = &q
		}
		names, src = names[k:], f.Fid
	}
	if last != nil && !sameFile(f.QID, *last, sameRoot) {
		_, ok := s.internal(clunkMsg(f.Fid))
		return nil, false, ok
	}
	if !n.has {
		n.fid, n.has = f.Fid, true
	}
	if last == nil && f.QID != nil {
		// A copy of a fid made again at the same path: the same file.
		last = &qid{typ: f.QID.Type, path: f.QID.Path}
	}
	return last, true, true
}

// sameFile reports whether got may be the file saved as want: of the
// same kind, and in the same directory the same inode.
func sameFile(want *QIDState, got qid, sameRoot bool) bool {
	if want == nil {
		return true
	}
	return want.Type == got.typ && (!sameRoot || want.Path == got.path)
}

// reopenFlags are a saved fid's open flags for opening it again: neither
// creating nor truncating, and read-write where a create said 3 (which
// the share's create takes as read-write, and its open refuses).
func reopenFlags(flags uint32) uint32 {
	flags &^= dotlCreat | dotlExcl | dotlTrunc
	if flags&3 == 3 {
		flags = flags&^3 | 2
	}
	return flags
}

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func clunkMsg(fid uint32) func(uint16) []byte {
	return func(tag uint16) []byte {
		return frame(msgTclunk, tag, binary.LittleEndian.AppendUint32(nil, fid))
	}
}

func lopenMsg(fid, flags uint32) func(uint16) []byte {
	return func(tag uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, fid)
		return frame(msgTlopen, tag, binary.LittleEndian.AppendUint32(b, flags))
	}
}

func walkMsg(fid, newfid uint32, names []string) func(uint16) []byte {
	return func(tag uint16) []byte {
		b := binary.LittleEndian.AppendUint32(nil, fid)
		b = binary.LittleEndian.AppendUint32(b, newfid)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(names)))
		for _, n := range names {
			b = appendStr(b, n)
		}
		return frame(msgTwalk, tag, b)
	}
}
