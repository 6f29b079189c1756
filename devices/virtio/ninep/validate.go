package ninep

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// 9P message types the device looks at itself.
const (
	msgRlerror      = 7
	msgTversion     = 100
	msgRversion     = 101
	msgTflush       = 108
	msgTxattrwalk   = 30
	msgTxattrcreate = 32
	msgTunlinkat    = 76
	msgTattach      = 104
	msgTwalk        = 110
	msgRwalk        = 111
	msgTwrite       = 118
	msgTclunk       = 120
)

// Limits on names, as Linux has them: a name longer than NAME_MAX, a
// symlink's target longer than PATH_MAX, or a walk of more than
// MAXWELEM names is refused before the server sees it (a refused
// request must leave nothing behind, and the server's path tree keeps
// a node for each name it is asked about).
const (
	maxNameLen   = 255
	maxTargetLen = 4095
	maxWalkNames = 16
)

// mutating are the T-messages that change the share: a read-only share
// refuses them in the device, with EROFS, before the server builds any
// state for them. (Tremove also clunks its fid, so it goes to the server,
// whose share refuses the change; Tlopen and Twrite are refused by the
// share by their flags and fids.)
var mutating = map[byte]bool{
	14: true, 16: true, 18: true, 20: true, 26: true, 32: true, 70: true, 72: true, 74: true, 76: true,
}

// headerSize is size[4] type[1] tag[2].
const headerSize = 7

// noTag is the tag of Tversion.
const noTag = 0xffff

// layouts gives the body of each T-message of 9P2000.L that the server
// handles, field by field: 1, 2, 4, 8 a number of that many bytes, s a
// string (size[2] bytes), n a string that is a file name (at most
// maxNameLen bytes), t a symlink's target (at most maxTargetLen), w a
// walk's names (n[2], at most maxWalkNames, then n names), p a write's
// data (count[4] then exactly count bytes, to the end). A message
// that does not fill its layout is refused before the server sees it:
// p9's server answers one it cannot decode with no tag, which would leave
// the guest's request unanswered. The Google extensions of the p9 library
// (types 124-135) are not 9P2000.L and not served.
var layouts = map[byte]string{
	8:   "4",          // Tstatfs fid
	12:  "44",         // Tlopen fid flags
	14:  "4n444",      // Tlcreate fid name flags mode gid
	16:  "4nt4",       // Tsymlink fid name symtgt gid
	18:  "4n4444",     // Tmknod dfid name mode major minor gid
	20:  "44n",        // Trename fid dfid name
	22:  "4",          // Treadlink fid
	24:  "48",         // Tgetattr fid request_mask
	26:  "4444488888", // Tsetattr fid valid mode uid gid size atime[2] mtime[2]
	30:  "44n",        // Txattrwalk fid newfid name
	32:  "4n84",       // Txattrcreate fid name attr_size flags
	40:  "484",        // Treaddir fid offset count
	50:  "4",          // Tfsync fid (datasync[4] follows)
	52:  "414884s",    // Tlock fid type flags start length proc_id client_id
	70:  "44n",        // Tlink dfid fid name
	72:  "4n44",       // Tmkdir dfid name mode gid
	74:  "4n4n",       // Trenameat olddirfid oldname newdirfid newname
	76:  "4n4",        // Tunlinkat dirfd name flags
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

// check says whether body holds every field of layout: 0 when it does,
// EINVAL when a field is missing, ENAMETOOLONG when a name or target is
// longer than Linux allows (EINVAL for a walk of too many names).
func check(layout string, body []byte) unix.Errno {
	off := 0
	need := func(n int) unix.Errno {
		if len(body)-off < n {
			return unix.EINVAL
		}
		off += n
		return 0
	}
	str := func(limit int) unix.Errno {
		if len(body)-off < 2 {
			return unix.EINVAL
		}
		n := int(binary.LittleEndian.Uint16(body[off:]))
		off += 2
		if err := need(n); err != 0 {
			return err
		}
		if n > limit {
			return unix.ENAMETOOLONG
		}
		return 0
	}
	for _, c := range layout {
		var err unix.Errno
		switch c {
		case '1':
			err = need(1)
		case '2':
			err = need(2)
		case '4':
			err = need(4)
		case '8':
			err = need(8)
		case 's':
			err = str(1 << 16)
		case 'n':
			err = str(maxNameLen)
		case 't':
			err = str(maxTargetLen)
		case 'w':
			if len(body)-off < 2 {
				return unix.EINVAL
			}
			n := int(binary.LittleEndian.Uint16(body[off:]))
			off += 2
			if n > maxWalkNames {
				return unix.EINVAL
			}
			for i := 0; i < n && err == 0; i++ {
				err = str(maxNameLen)
			}
		case 'p':
			if len(body)-off < 4 || int(binary.LittleEndian.Uint32(body[off:])) != len(body)-off-4 {
				return unix.EINVAL
			}
			off = len(body)
		}
		if err != 0 {
			return err
		}
	}
	return 0
}
