package ninep

import (
	"encoding/binary"
	"strings"
)

// The device follows what each request does to the server's fids
// (fidtable.go): when it takes a checked T-message it notes what the
// message would do (a fidOp, kept with the pending request), and when
// the server's answer comes it applies that if the answer says it was
// done. The server handles requests concurrently and answers them in the
// order they end, which is the order the table sees them in; requests
// that race on one name are not ordered by anything else, but a Linux
// guest does not send them (its VFS locks a directory across a lookup,
// a rename or an unlink in it). A guest that does race them can only
// mislead the table about its own fids: the table stays within its
// bounds, and a restore that finds another file than the one saved
// (replay.go checks its QID) leaves that fid out.

// opKind is what a request does to the fids.
type opKind uint8

const (
	opVersion  opKind = iota + 1 // every fid is gone, whatever the answer
	opAttach                     // fid is the root, or aname's path
	opWalk                       // newfid is fid's path and names
	opLopen                      // fid is open
	opLcreate                    // fid is the new file dir/name, open
	opMake                       // a new file at dir/name (Tmkdir, Tsymlink, Tmknod, Tlink)
	opRename                     // fid's file moves to dir/name (Trename)
	opRenameat                   // dir/name moves to dir2/name2
	opUnlinkat                   // dir/name is gone
	opClunk                      // fid is gone, whatever the answer
	opRemove                     // fid is gone whatever the answer, its file if done
)

// fidOp is what one request does to the fids, read from its T-message.
type fidOp struct {
	kind        opKind
	typ         uint8 // the T-message's type: done when answered typ+1
	fid, fid2   uint32
	name, name2 string
	names       []string
	id          attachID
	flags       uint32
}

// 9P2000.L T-message types the table follows, beyond validate.go's.
const (
	msgTlopen    = 12
	msgTlcreate  = 14
	msgTsymlink  = 16
	msgTmknod    = 18
	msgTrename   = 20
	msgTlink     = 70
	msgTmkdir    = 72
	msgTrenameat = 74
	msgTremove   = 122
)

// reader reads a checked message's fields; past the end it reads zeros.
type reader struct {
	b   []byte
	off int
}

func (r *reader) u16() uint16 {
	if r.off+2 > len(r.b) {
		r.off = len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if r.off+4 > len(r.b) {
		r.off = len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if r.off+8 > len(r.b) {
		r.off = len(r.b)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// str copies a string out (the message's buffer is reused).
func (r *reader) str() string {
	n := int(r.u16())
	if r.off+n > len(r.b) {
		r.off = len(r.b)
		return ""
	}
	s := string(r.b[r.off : r.off+n])
	r.off += n
	return s
}

func (r *reader) qid() qid {
	typ := uint8(0)
	if r.off < len(r.b) {
		typ = r.b[r.off]
	}
	r.off++
	r.u32() // version
	return qid{typ: typ, path: r.u64()}
}

// parseOp reads what a checked T-message of type typ, body body (its
// fields all there: check), does to the fids; nil for one that does
// nothing to them.
func parseOp(typ uint8, body []byte) *fidOp {
	r := &reader{b: body}
	op := &fidOp{typ: typ}
	switch typ {
	case msgTattach:
		op.kind, op.fid = opAttach, r.u32()
		r.u32() // afid
		op.id.uname = r.str()
		aname := r.str()
		op.id.aname = aname
		op.id.nUname = r.u32()
		// As p9's server reads aname: from the root, a leading slash
		// or not, one name between each two slashes.
		aname = strings.TrimPrefix(aname, "/")
		if aname != "" {
			op.names = strings.Split(aname, "/")
		}
	case msgTwalk:
		op.kind, op.fid, op.fid2 = opWalk, r.u32(), r.u32()
		n := int(r.u16())
		for i := 0; i < n && i <= maxWalkNames; i++ {
			op.names = append(op.names, r.str())
		}
	case msgTlopen:
		op.kind, op.fid = opLopen, r.u32()
		op.flags = r.u32()
	case msgTlcreate:
		op.kind, op.fid = opLcreate, r.u32()
		op.name = r.str()
		op.flags = r.u32()
	case msgTmkdir, msgTsymlink, msgTmknod:
		op.kind, op.fid = opMake, r.u32()
		op.name = r.str()
	case msgTlink:
		op.kind, op.fid = opMake, r.u32()
		r.u32() // the file linked to
		op.name = r.str()
	case msgTrename:
		op.kind, op.fid, op.fid2 = opRename, r.u32(), r.u32()
		op.name = r.str()
	case msgTrenameat:
		op.kind, op.fid = opRenameat, r.u32()
		op.name = r.str()
		op.fid2 = r.u32()
		op.name2 = r.str()
	case msgTunlinkat:
		op.kind, op.fid = opUnlinkat, r.u32()
		op.name = r.str()
	case msgTclunk:
		op.kind, op.fid = opClunk, r.u32()
	case msgTremove:
		op.kind, op.fid = opRemove, r.u32()
	default:
		return nil
	}
	return op
}

// versionOp is a Tversion's: the server it reaches is a fresh one.
var versionOp = &fidOp{kind: opVersion, typ: msgTversion}

// apply records what op did, as the server's answer msg (a whole
// R-message) says.
func (t *fidTable) apply(op *fidOp, msg []byte) {
	if len(msg) < headerSize {
		return
	}
	done := msg[4] == op.typ+1
	r := &reader{b: msg[headerSize:]}
	switch op.kind {
	case opVersion:
		// restartServer started a fresh server for it: no fid is
		// left, whether it agreed on a version or not.
		version := ""
		if done {
			r.u32() // msize: the session keeps it
			version = r.str()
		}
		t.reset()
		t.version = version
		return
	case opClunk:
		t.clunked(op.fid)
		return
	case opRemove:
		if done {
			t.removed(op.fid)
		} else {
			t.clunked(op.fid)
		}
		return
	}
	if !done {
		return
	}
	switch op.kind {
	case opAttach:
		t.attach(op.fid, op.id, op.names)
	case opWalk:
		n := int(r.u16())
		if n != len(op.names) {
			return // a partial walk makes no fid
		}
		var last *qid
		for i := 0; i < n; i++ {
			q := r.qid()
			last = &q
		}
		t.walk(op.fid, op.fid2, op.names, last)
	case opLopen:
		t.opened(op.fid, op.flags, r.qid())
	case opLcreate:
		t.created(op.fid, op.name, op.flags, r.qid())
	case opMake:
		t.made(op.fid, op.name)
	case opRename:
		t.renamed(op.fid, op.fid2, op.name)
	case opRenameat:
		t.renamedAt(t.fidNode(op.fid), op.name, t.fidNode(op.fid2), op.name2)
	case opUnlinkat:
		t.unlinked(op.fid, op.name)
	}
}
