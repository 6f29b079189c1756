package ninep

import "encoding/binary"

// 9P message types the device looks at itself.
const (
	msgRlerror    = 7
	msgTversion   = 100
	msgRversion   = 101
	msgTflush     = 108
	msgTxattrwalk = 30
	msgTwrite     = 118
)

// headerSize is size[4] type[1] tag[2].
const headerSize = 7

// noTag is the tag of Tversion.
const noTag = 0xffff

// layouts gives the body of each T-message of 9P2000.L that the server
// handles, field by field: 1, 2, 4, 8 a number of that many bytes, s a
// string (size[2] bytes), w a walk's names (n[2] then n strings), p a
// write's data (count[4] then exactly count bytes, to the end). A message
// that does not fill its layout is refused before the server sees it:
// p9's server answers one it cannot decode with no tag, which would leave
// the guest's request unanswered. The Google extensions of the p9 library
// (types 124-135) are not 9P2000.L and not served.
var layouts = map[byte]string{
	8:   "4",          // Tstatfs fid
	12:  "44",         // Tlopen fid flags
	14:  "4s444",      // Tlcreate fid name flags mode gid
	16:  "4ss4",       // Tsymlink fid name symtgt gid
	18:  "4s4444",     // Tmknod dfid name mode major minor gid
	20:  "44s",        // Trename fid dfid name
	22:  "4",          // Treadlink fid
	24:  "48",         // Tgetattr fid request_mask
	26:  "4444488888", // Tsetattr fid valid mode uid gid size atime[2] mtime[2]
	30:  "44s",        // Txattrwalk fid newfid name
	32:  "4s84",       // Txattrcreate fid name attr_size flags
	40:  "484",        // Treaddir fid offset count
	50:  "4",          // Tfsync fid (datasync[4] follows)
	52:  "414884s",    // Tlock fid type flags start length proc_id client_id
	70:  "44s",        // Tlink dfid fid name
	72:  "4s44",       // Tmkdir dfid name mode gid
	74:  "4s4s",       // Trenameat olddirfid oldname newdirfid newname
	76:  "4s4",        // Tunlinkat dirfd name flags
	100: "4s",         // Tversion msize version
	102: "4ss4",       // Tauth afid uname aname n_uname
	104: "44ss4",      // Tattach fid afid uname aname n_uname
	108: "2",          // Tflush oldtag
	110: "44w",        // Twalk fid newfid nwname wname...
	116: "484",        // Tread fid offset count
	118: "48p",        // Twrite fid offset count data
	120: "4",          // Tclunk fid
	122: "4",          // Tremove fid
}

// fits reports whether body holds every field of layout.
func fits(layout string, body []byte) bool {
	off := 0
	need := func(n int) bool {
		if len(body)-off < n {
			return false
		}
		off += n
		return true
	}
	str := func() bool {
		if len(body)-off < 2 {
			return false
		}
		n := int(binary.LittleEndian.Uint16(body[off:]))
		off += 2
		return need(n)
	}
	for _, c := range layout {
		ok := true
		switch c {
		case '1':
			ok = need(1)
		case '2':
			ok = need(2)
		case '4':
			ok = need(4)
		case '8':
			ok = need(8)
		case 's':
			ok = str()
		case 'w':
			if len(body)-off < 2 {
				return false
			}
			n := int(binary.LittleEndian.Uint16(body[off:]))
			off += 2
			for i := 0; i < n && ok; i++ {
				ok = str()
			}
		case 'p':
			if len(body)-off < 4 {
				return false
			}
			ok = int(binary.LittleEndian.Uint32(body[off:])) == len(body)-off-4
			off = len(body)
		}
		if !ok {
			return false
		}
	}
	return true
}
