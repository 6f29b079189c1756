package ninep

import (
	"strings"
	"testing"
)

// savedPaths saves t and gives each fid's path, "lost" for a lost one.
func savedPaths(tb testing.TB, t *fidTable) map[uint32]string {
	tb.Helper()
	var st State
	if err := t.save(&st); err != nil {
		tb.Fatal(err)
	}
	m := map[uint32]string{}
	for _, f := range st.Fids {
		if f.Lost {
			m[f.Fid] = "lost"
		} else {
			m[f.Fid] = "/" + strings.Join(f.Path, "/")
		}
	}
	return m
}

func wantPaths(tb testing.TB, t *fidTable, want map[uint32]string) {
	tb.Helper()
	got := savedPaths(tb, t)
	for fid, w := range want {
		if got[fid] != w {
			tb.Errorf("fid %d: %q, want %q", fid, got[fid], w)
		}
	}
	if len(got) != len(want) {
		tb.Errorf("fids %v, want %v", got, want)
	}
}

// TestFidTableFollows: walks, renames of a directory with fids below it,
// removals, creates over a name, and clunks; once every fid is clunked
// nothing of the table is left but its root.
func TestFidTableFollows(t *testing.T) {
	tb := newFidTable(100)
	id := attachID{uname: "u"}
	tb.attach(1, id, nil)
	tb.walk(1, 2, []string{"a", "b", "c"}, &qid{path: 3})
	tb.walk(2, 3, []string{"d"}, nil)
	tb.walk(1, 4, []string{"a"}, nil)
	tb.walk(3, 6, nil, nil) // a clone
	tb.renamedAt(tb.fidNode(1), "a", tb.fidNode(1), "z")
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "/z/b/c", 3: "/z/b/c/d", 4: "/z", 6: "/z/b/c/d"})
	tb.walk(4, 5, []string{"..", ".", "z", "b"}, nil)
	tb.walk(5, 5, []string{"..", "..", ".."}, nil) // never above the root
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "/z/b/c", 3: "/z/b/c/d", 4: "/z", 5: "/", 6: "/z/b/c/d"})
	tb.renamed(2, 1, "top") // Trename of fid 2's file
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "/top", 3: "/top/d", 4: "/z", 5: "/", 6: "/top/d"})
	tb.unlinked(2, "d")
	tb.created(4, "new", 2, qid{path: 9})
	tb.walk(1, 7, []string{"z", "other"}, nil)
	tb.walk(1, 8, []string{"z"}, nil)
	tb.made(8, "other") // a new file where the table had one
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "/top", 3: "lost", 4: "/z/new", 5: "/", 6: "lost", 7: "lost", 8: "/z"})
	tb.renamedAt(tb.fidNode(1), "top", tb.fidNode(1), "z") // over z: fid 4 is lost
	tb.removed(2)
	if f := tb.fids[4]; !f.open || f.flags != 2 || !f.lostFid() {
		t.Errorf("fid 4: %+v", f)
	}
	wantPaths(t, tb, map[uint32]string{1: "/", 3: "lost", 4: "lost", 5: "/", 6: "lost", 7: "lost", 8: "lost"})
	for _, fid := range []uint32{1, 3, 4, 5, 6, 7, 8, 99} {
		tb.clunked(fid)
	}
	if tb.nodes != 1 || tb.root.refs != 0 || len(tb.root.children) != 0 || len(tb.attaches) != 0 || len(tb.fids) != 0 {
		t.Errorf("after every clunk: %d nodes, root refs %d children %d, %d attaches, %d fids", tb.nodes, tb.root.refs, len(tb.root.children), len(tb.attaches), len(tb.fids))
	}
}

// TestFidTableMoveIntoItself: a rename of a directory into itself, which
// the host refuses, cannot make the table loop.
func TestFidTableMoveIntoItself(t *testing.T) {
	tb := newFidTable(100)
	tb.attach(1, attachID{}, nil)
	tb.walk(1, 2, []string{"a", "b"}, nil)
	tb.walk(1, 3, []string{"a"}, nil)
	tb.renamedAt(tb.fidNode(1), "a", tb.fidNode(2), "c")
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "lost", 3: "lost"})
}

// TestFidTableBounds: past its bounds the table tracks a fid as lost, and
// holds no more than they allow, whatever the guest does.
func TestFidTableBounds(t *testing.T) {
	tb := newFidTable(4) // 4 fids, 9 nodes
	tb.attach(1, attachID{}, nil)
	tb.walk(1, 2, strings.Split("a/b/c/d/e/f/g/h/i/j", "/"), nil)
	if tb.untracked != 1 || tb.nodes != 1 {
		t.Errorf("a walk past the nodes bound: %d untracked, %d nodes", tb.untracked, tb.nodes)
	}
	tb.walk(1, 3, []string{"a", "b"}, nil)
	tb.walk(1, 4, []string{"x"}, nil)
	tb.walk(1, 5, []string{"y"}, nil) // a fifth fid
	if len(tb.fids) != 4 || tb.untracked != 2 {
		t.Errorf("past the fids bound: %d fids, %d untracked", len(tb.fids), tb.untracked)
	}
	tb.attach(2, attachID{uname: strings.Repeat("u", maxAttachString+1)}, nil)
	tb.walk(2, 6, nil, nil)
	wantPaths(t, tb, map[uint32]string{1: "/", 2: "lost", 3: "/a/b", 4: "/x"})
	tb.reset()
	for i := 0; i < maxAttaches+10; i++ {
		tb.maxFids = 1000
		tb.attach(uint32(i), attachID{uname: strings.Repeat("u", i)}, nil)
	}
	if len(tb.attaches) != maxAttaches {
		t.Errorf("%d attaches kept", len(tb.attaches))
	}
	// Names the share could not have walked are not followed.
	for _, name := range []string{"", "a/b", "a\x00", strings.Repeat("n", 256)} {
		tb.walk(0, 1, []string{name}, nil)
		if f := tb.fids[1]; !f.lostFid() {
			t.Errorf("a walk to %q is followed", name)
		}
	}
}
