package ninep

// A saved 9p device must give the guest its fids back, but p9's server
// keeps them in its own memory, out of reach: the device therefore keeps
// a table of its own, of the fids the server holds and the path from the
// share's root by which each can be found again, following the requests
// it passes on and the server's answers (track.go). A restored device
// walks a fresh server to each saved path (replay.go).
//
// Paths are a tree of names, as the server's are: a fid points at a node,
// a node holds its name and its parent, so that a rename moves a whole
// subtree by changing one node, and many fids deep in one directory share
// its path. A node lives while a fid is on it or below it. A name that is
// removed, or that another file takes (a rename over it, a create after
// it was removed on the host), detaches its subtree: the nodes are marked
// gone, and a fid on one is lost, since by its path it would now reach
// nothing, or another file.
//
// The table is bounded by the share's descriptor budget (budget.go):
// every fid the server holds keeps a descriptor open, and so does every
// directory between a fid and the one it was walked from, so there are
// no more fids, nor nodes, than descriptors the guest may hold. The
// table's own limits (maxFids, maxNodes) are a second line that a bug
// here would meet first: past them a fid is tracked as lost, never
// refused.

// qid is the part of a 9P QID that names a file: its type (directory,
// symlink, file) and its path (the share's inode number).
type qid struct {
	typ  uint8
	path uint64
}

// attachID is what a Tattach said of who attaches and to what.
type attachID struct {
	uname, aname string
	nUname       uint32
}

// maxAttaches and maxAttachString bound what the table keeps of the
// guest's attaches: Linux attaches once per mount (or per user with
// access=user), with a user name and the mount's aname option. A fid of
// an attach past these is tracked as lost.
const (
	maxAttaches     = 256
	maxAttachString = 4096
)

// node is one name of a path.
type node struct {
	parent   *node // nil for the root and for a detached subtree's top
	name     string
	children map[string]*node
	// refs counts the fids on the node and its children.
	refs int
	// gone: the node, or one above it, was removed or replaced.
	gone bool
}

// tfid is one fid the server holds.
type tfid struct {
	attach *attachRef
	node   *node // nil when lost with no path
	qid    qid
	hasQID bool
	open   bool
	flags  uint32 // Tlopen's or Tlcreate's flags, once open
	// lost: the fid cannot be found again by a path (see lostFid).
	lost bool
}

type attachRef struct {
	id   attachID
	refs int
}

// fidTable is a session's fids. Its methods are called with the
// session's lock held.
type fidTable struct {
	root     *node
	fids     map[uint32]*tfid
	attaches map[attachID]*attachRef
	nodes    int // live nodes, the root included
	maxFids  int
	maxNodes int
	// untracked counts fids tracked as lost because a bound was met or
	// a name could not be followed.
	untracked int
	// version is the protocol version the server agreed to ("" before
	// a Tversion).
	version string
}

// newFidTable makes an empty table for a share that holds up to files
// descriptors.
func newFidTable(files int) *fidTable {
	t := &fidTable{maxFids: files, maxNodes: 2*files + 1}
	t.reset()
	return t
}

// reset forgets every fid: a Tversion starts a new server.
func (t *fidTable) reset() {
	t.root = &node{refs: 0}
	t.fids = map[uint32]*tfid{}
	t.attaches = map[attachID]*attachRef{}
	t.nodes = 1
	t.untracked = 0
}

// lostFid reports whether f cannot be found again by its path: it was
// lost when made (a bound, an unknown source), or its file was removed
// or replaced since.
func (f *tfid) lostFid() bool { return f.lost || f.node == nil || f.node.gone }

// internAttach takes a reference to id's entry, or returns nil when the
// table keeps no more attaches or id's strings are too long.
func (t *fidTable) internAttach(id attachID) *attachRef {
	if a := t.attaches[id]; a != nil {
		a.refs++
		return a
	}
	if len(t.attaches) >= maxAttaches || len(id.uname) > maxAttachString || len(id.aname) > maxAttachString {
		return nil
	}
	a := &attachRef{id: id, refs: 1}
	t.attaches[id] = a
	return a
}

func (t *fidTable) releaseAttach(a *attachRef) {
	if a == nil {
		return
	}
	if a.refs--; a.refs == 0 {
		delete(t.attaches, a.id)
	}
}

// child returns n's child name, made if need be (nil past maxNodes).
// The caller takes a reference on what it keeps.
func (t *fidTable) child(n *node, name string) *node {
	if c := n.children[name]; c != nil {
		return c
	}
	if t.nodes >= t.maxNodes {
		return nil
	}
	c := &node{parent: n, name: name}
	if n.children == nil {
		n.children = map[string]*node{}
	}
	n.children[name] = c
	n.refs++
	t.nodes++
	return c
}

// descend follows names from n, as a successful walk did: "." stays,
// ".." goes up (never above the root). It returns nil when a bound is
// met or a name is not one a file of the share can have.
// Nodes it made that end up unreferenced are freed by the caller's
// unref of what it got, or here when it fails.
func (t *fidTable) descend(n *node, names []string) *node {
	n.refs++ // held while walking, so that nothing below is freed
	for _, name := range names {
		next := n
		switch name {
		case ".":
		case "..":
			if n.parent != nil {
				next = n.parent
			}
		default:
			// A name the share could not have walked (the server
			// refuses them) is one the table cannot save.
			if len(name) > maxNameLen || validName(name) != nil {
				t.unref(n)
				return nil
			}
			next = t.child(n, name)
			if next == nil {
				t.unref(n)
				return nil
			}
		}
		next.refs++
		t.unref(n)
		n = next
	}
	return n // with a reference for the caller
}

// unref drops a reference to n, freeing it and then its parents once
// nothing refers to them. The root is never freed.
func (t *fidTable) unref(n *node) {
	for n != nil && n != t.root {
		if n.refs--; n.refs > 0 {
			return
		}
		t.nodes--
		p := n.parent
		if p == nil {
			return // the top of a detached subtree
		}
		delete(p.children, n.name)
		n.parent = nil
		n = p
	}
	if n == t.root {
		n.refs--
	}
}

// detach removes the node at dir/name, if the table has one: it and
// everything below it are gone.
func (t *fidTable) detach(dir *node, name string) {
	if dir == nil {
		return
	}
	c := dir.children[name]
	if c == nil {
		return
	}
	// c has references (a node lives only while referred to): the last
	// one's unref frees it.
	delete(dir.children, name)
	c.parent = nil
	markGone(c)
	t.unref(dir)
}

// markGone marks n's subtree gone.
func markGone(n *node) {
	stack := []*node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n.gone = true
		for _, c := range n.children {
			stack = append(stack, c)
		}
	}
}

// under reports whether n is a or below it.
func under(n, a *node) bool {
	for ; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// set makes fid f, replacing any fid of that number. f holds a reference
// to its node and attach already.
func (t *fidTable) set(num uint32, f *tfid) {
	if old := t.fids[num]; old != nil {
		t.drop(old)
	} else if len(t.fids) >= t.maxFids {
		t.untracked++
		t.drop(f)
		return
	}
	t.fids[num] = f
}

// drop releases what f refers to.
func (t *fidTable) drop(f *tfid) {
	if f.node != nil {
		t.unref(f.node)
		f.node = nil
	}
	t.releaseAttach(f.attach)
	f.attach = nil
}

// lostEntry is a fid the server holds whose path the table cannot give.
func (t *fidTable) lostEntry(num uint32) {
	t.set(num, &tfid{lost: true})
}

// attach records a successful Tattach of fid: the root, or the path of
// names (aname's, split at its slashes).
func (t *fidTable) attach(num uint32, id attachID, names []string) {
	a := t.internAttach(id)
	if a == nil {
		t.untracked++
		t.lostEntry(num)
		return
	}
	n := t.descend(t.root, names)
	if n == nil {
		t.releaseAttach(a)
		t.untracked++
		t.lostEntry(num)
		return
	}
	t.set(num, &tfid{attach: a, node: n})
}

// walk records a successful Twalk of fid to newfid by names (all of
// them: a partial walk makes no fid), the last QID q when there is one.
func (t *fidTable) walk(num, newNum uint32, names []string, q *qid) {
	src := t.fids[num]
	if src == nil || src.lostFid() {
		// The server walked from a fid the table has no path for: the
		// new fid has none either.
		t.lostEntry(newNum)
		return
	}
	n := t.descend(src.node, names)
	if n == nil {
		t.untracked++
		t.lostEntry(newNum)
		return
	}
	src.attach.refs++
	f := &tfid{attach: src.attach, node: n}
	switch {
	case q != nil:
		f.qid, f.hasQID = *q, true
	case len(names) == 0:
		f.qid, f.hasQID = src.qid, src.hasQID
	}
	t.set(newNum, f)
}

// opened records a successful Tlopen.
func (t *fidTable) opened(num uint32, flags uint32, q qid) {
	if f := t.fids[num]; f != nil {
		f.open, f.flags = true, flags
		f.qid, f.hasQID = q, true
	}
}

// created records a successful Tlcreate: fid is the new file dir/name,
// open.
func (t *fidTable) created(num uint32, name string, flags uint32, q qid) {
	f := t.fids[num]
	if f == nil {
		t.lostEntry(num)
		return
	}
	if f.lostFid() {
		f.lost, f.open, f.flags = true, true, flags
		return
	}
	// Whatever the table knew by that name is not this new file.
	t.detach(f.node, name)
	n := t.descend(f.node, []string{name})
	t.unref(f.node)
	f.node = n
	f.open, f.flags, f.qid, f.hasQID = true, flags, q, true
	if n == nil {
		t.untracked++
		f.lost = true
	}
}

// made records a file made at dir/name (Tmkdir, Tsymlink, Tmknod,
// Tlink): the table's node by that name, if any, was another file.
func (t *fidTable) made(dirNum uint32, name string) {
	if d := t.fids[dirNum]; d != nil && !d.lostFid() {
		t.detach(d.node, name)
	}
}

// unlinked records a successful Tunlinkat of dir/name.
func (t *fidTable) unlinked(dirNum uint32, name string) {
	if d := t.fids[dirNum]; d != nil && !d.lostFid() {
		t.detach(d.node, name)
	}
}

// clunked forgets fid (Tclunk, and Tremove whatever its outcome).
func (t *fidTable) clunked(num uint32) {
	if f := t.fids[num]; f != nil {
		t.drop(f)
		delete(t.fids, num)
	}
}

// removed records a successful Tremove: fid's file is gone, and so is
// the fid.
func (t *fidTable) removed(num uint32) {
	if f := t.fids[num]; f != nil && !f.lostFid() && f.node.parent != nil {
		t.detach(f.node.parent, f.node.name)
	}
	t.clunked(num)
}

// renamedAt records a successful Trenameat (and Trename: the fid's own
// directory and name): what was at newdir/newname is gone, and the
// subtree at olddir/oldname moves there with every fid in it.
func (t *fidTable) renamedAt(oldDir *node, oldName string, newDir *node, newName string) {
	if oldDir == nil || newDir == nil || oldDir.gone || newDir.gone {
		// Nothing the table can follow; a name it knew below a gone
		// node is gone already.
		if newDir != nil && !newDir.gone {
			t.detach(newDir, newName)
		}
		return
	}
	if oldDir == newDir && oldName == newName {
		return
	}
	src := oldDir.children[oldName]
	if src != nil && under(newDir, src) {
		// A directory moved into itself: the host refuses that, so
		// the table was wrong about something; forget both names.
		t.detach(oldDir, oldName)
		t.detach(newDir, newName)
		return
	}
	t.detach(newDir, newName)
	if src == nil || oldDir.gone {
		// Nothing to move, or the table had the old name below the
		// one replaced (which the host refuses): it goes with it.
		return
	}
	delete(oldDir.children, oldName)
	src.parent, src.name = newDir, newName
	if newDir.children == nil {
		newDir.children = map[string]*node{}
	}
	newDir.children[newName] = src
	newDir.refs++
	t.unref(oldDir)
}

// fidNode is the node of a fid the table can follow, or nil.
func (t *fidTable) fidNode(num uint32) *node {
	if f := t.fids[num]; f != nil && !f.lostFid() {
		return f.node
	}
	return nil
}

// renamed records a successful Trename of fid into dir as name.
func (t *fidTable) renamed(num, dirNum uint32, name string) {
	n, dir := t.fidNode(num), t.fidNode(dirNum)
	if n == nil || n.parent == nil {
		if dir != nil {
			t.detach(dir, name)
		}
		return
	}
	t.renamedAt(n.parent, n.name, dir, name)
}

// path is the names from the root to n, or nil past limit names.
func path(n *node, limit int) ([]string, bool) {
	var names []string
	for ; n.parent != nil; n = n.parent {
		if len(names) == limit {
			return nil, false
		}
		names = append(names, n.name)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return names, true
}
