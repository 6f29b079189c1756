package ninep

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
)

var _ virtio.StateDevice = (*Device)(nil)

// State is a virtio-9p device's own saved state (virtio.StateDevice): the
// 9P session the guest had, as the device followed it (fidtable.go), so
// that a restored device can give a fresh server the same fids
// (replay.go). The queue's place is the transport's, and no chain is in
// progress: Drain returned every chain taken before the transport paused,
// and a device with a request still in progress refuses to be saved.
// The share's options (read-only, listed mounts) are not saved: they are
// the host's, as the restored machine is configured. Its JSON is the
// format: fields are added, never renamed.
type State struct {
	// Tag is the mount tag: a state restores only into a device with
	// the same.
	Tag string
	// RootDev and RootIno are the share's directory's device and inode.
	// Restored onto the same directory, a fid whose file has another
	// inode now is not reopened (it would be another file); restored
	// onto another (a copy), files are found by their names alone.
	RootDev, RootIno uint64
	// Msize and Version are what the server agreed to (Version "" when
	// the guest sent no Tversion).
	Msize   uint32
	Version string
	// Attaches are the attaches the fids came from.
	Attaches []AttachState
	// Fids are the fids the server held, by number.
	Fids []FidState
}

// AttachState is a Tattach's user and attach name. A name that is not
// UTF-8, which a JSON string cannot hold, is saved as bytes instead
// (RawUname, RawAname: base64 in the JSON).
type AttachState struct {
	Uname, Aname       string
	NUname             uint32
	RawUname, RawAname []byte `json:",omitempty"`
}

// FidState is one fid.
type FidState struct {
	Fid uint32
	// Lost: the fid cannot be found again (its file was removed or
	// replaced while the guest held it, or the device could not follow
	// it). A restored device leaves it out: the guest's next use of it
	// fails with EBADF. Nothing else is saved of a lost fid.
	Lost bool `json:",omitempty"`
	// Attach is the fid's attach, an index in State.Attaches.
	Attach int `json:",omitempty"`
	// Path is the names from the share's root to the fid's file. When
	// one is not UTF-8 (a file name is bytes; a JSON string cannot hold
	// them), they are RawPath's instead: base64 in the JSON.
	Path    []string `json:",omitempty"`
	RawPath [][]byte `json:",omitempty"`
	// Open and Flags: the fid was opened (Tlopen, Tlcreate) with those
	// 9P2000.L flags.
	Open  bool   `json:",omitempty"`
	Flags uint32 `json:",omitempty"`
	// QID is the file's, when the device saw it.
	QID *QIDState `json:",omitempty"`
}

// QIDState is the part of a QID that names a file.
type QIDState struct {
	Type uint8
	Path uint64
}

// Bounds on a saved session. A share holds DefaultMaxFiles descriptors
// unless told otherwise, each fid at least one; the names are what a
// restore walks.
const (
	maxSavedFids    = 1 << 20
	maxSavedNames   = 1 << 20
	maxVersionBytes = 64
)

// stateLimits are the bounds checkState applies to fids and names: the
// constants above, smaller in tests (a state at the real bounds is tens
// of megabytes of JSON).
type stateLimits struct{ fids, names int }

var savedLimits = stateLimits{fids: maxSavedFids, names: maxSavedNames}

// SaveDeviceState implements virtio.StateDevice. It fails while a
// request is in progress (a pause that could not drain it) or the saved
// fids a restored device was given are still being reopened.
func (d *Device) SaveDeviceState() ([]byte, error) {
	d.run.Lock()
	defer d.run.Unlock()
	st := State{Tag: d.tag, RootDev: d.share.rootDev, RootIno: d.share.rootIno, Msize: MaxMsize}
	s := d.sess
	if s == nil {
		// Not running: no session to save.
		return json.Marshal(st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.replaying:
		return nil, fmt.Errorf("9p share %s (tag %s): the fids of the state it was restored from are still being reopened; try again", d.share.Dir(), d.tag)
	case s.taken > 0:
		return nil, fmt.Errorf("9p share %s (tag %s): %s still in progress after %v (blocked on the host?); a save needs them ended", d.share.Dir(), d.tag, requests(s.taken), d.drainWait)
	}
	st.Msize = s.msize
	if err := s.fids.save(&st); err != nil {
		return nil, fmt.Errorf("9p share %s (tag %s): %w", d.share.Dir(), d.tag, err)
	}
	return json.Marshal(st)
}

// save puts the table's fids into st, in fid order.
func (t *fidTable) save(st *State) error {
	st.Version = t.version
	if len(t.fids) > maxSavedFids {
		return fmt.Errorf("the guest holds %d fids, more than the %d a saved state holds", len(t.fids), maxSavedFids)
	}
	nums := make([]uint32, 0, len(t.fids))
	for n := range t.fids {
		nums = append(nums, n)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	attaches := map[*attachRef]int{}
	names := 0
	for _, n := range nums {
		f := t.fids[n]
		if f.lostFid() {
			st.Fids = append(st.Fids, FidState{Fid: n, Lost: true})
			continue
		}
		p, ok := path(f.node, maxSavedNames-names)
		if !ok {
			return fmt.Errorf("the guest's fids are more than %d names deep in all, more than a saved state holds", maxSavedNames)
		}
		names += len(p)
		i, ok := attaches[f.attach]
		if !ok {
			i = len(st.Attaches)
			attaches[f.attach] = i
			st.Attaches = append(st.Attaches, saveAttach(f.attach.id))
		}
		fs := FidState{Fid: n, Attach: i, Open: f.open, Flags: f.flags}
		fs.Path, fs.RawPath = savePath(p)
		if f.hasQID {
			fs.QID = &QIDState{Type: f.qid.typ, Path: f.qid.path}
		}
		st.Fids = append(st.Fids, fs)
	}
	return nil
}

// savePath is a path as FidState holds it: Path, or RawPath when a name
// is not UTF-8.
func savePath(p []string) ([]string, [][]byte) {
	for _, name := range p {
		if !utf8.ValidString(name) {
			raw := make([][]byte, len(p))
			for i, n := range p {
				raw[i] = []byte(n)
			}
			return nil, raw
		}
	}
	return p, nil
}

// saveAttach is an attach as AttachState holds it.
func saveAttach(id attachID) AttachState {
	a := AttachState{Uname: id.uname, Aname: id.aname, NUname: id.nUname}
	if !utf8.ValidString(a.Uname) {
		a.Uname, a.RawUname = "", []byte(id.uname)
	}
	if !utf8.ValidString(a.Aname) {
		a.Aname, a.RawAname = "", []byte(id.aname)
	}
	return a
}

// id is the attach a saved one was.
func (a *AttachState) id() attachID {
	id := attachID{uname: a.Uname, aname: a.Aname, nUname: a.NUname}
	if a.RawUname != nil {
		id.uname = string(a.RawUname)
	}
	if a.RawAname != nil {
		id.aname = string(a.RawAname)
	}
	return id
}

// RestoreDeviceState implements virtio.StateDevice: it checks the saved
// session, and keeps it for the transport's activation, which reopens its
// fids on a fresh server before the guest is served. A state this device
// could not have saved is refused, naming what is wrong.
func (d *Device) RestoreDeviceState(b []byte) error {
	var st State
	if err := devstate.Decode(b, &st); err != nil {
		return fmt.Errorf("virtio-9p state: %w", err)
	}
	if err := checkState(&st, d.tag, savedLimits); err != nil {
		return fmt.Errorf("virtio-9p state: %w", err)
	}
	d.run.Lock()
	defer d.run.Unlock()
	d.restored = &st
	return nil
}

// checkState refuses a saved session no device with mount tag tag could
// have saved, or one past lim.
func checkState(st *State, tag string, lim stateLimits) error {
	switch {
	case st.Tag != tag:
		return fmt.Errorf("saved for mount tag %q, restored onto a share with tag %q", st.Tag, tag)
	case st.Msize < MinMsize || st.Msize > MaxMsize:
		return fmt.Errorf("msize %d is not within %d..%d", st.Msize, MinMsize, MaxMsize)
	case len(st.Version) > maxVersionBytes || strings.ContainsRune(st.Version, 0):
		return fmt.Errorf("version %q is not one a 9P server agrees to", st.Version)
	case len(st.Attaches) > maxAttaches:
		return fmt.Errorf("%d attaches, more than the %d a saved state holds", len(st.Attaches), maxAttaches)
	case len(st.Fids) > lim.fids:
		return fmt.Errorf("%d fids, more than the %d a saved state holds", len(st.Fids), lim.fids)
	}
	for i, a := range st.Attaches {
		switch {
		case a.RawUname != nil && a.Uname != "" || a.RawAname != nil && a.Aname != "":
			return fmt.Errorf("attach %d: a name saved both as a string and as bytes", i)
		case len(a.Uname) > maxAttachString || len(a.Aname) > maxAttachString || len(a.RawUname) > maxAttachString || len(a.RawAname) > maxAttachString:
			return fmt.Errorf("attach %d: a user or attach name longer than %d bytes", i, maxAttachString)
		}
	}
	seen := make(map[uint32]bool, len(st.Fids))
	names := 0
	for i := range st.Fids {
		f := &st.Fids[i]
		if f.RawPath != nil {
			if f.Path != nil {
				return fmt.Errorf("fid %d: a path saved both as strings and as bytes", f.Fid)
			}
			// From here on a path is Path, whatever its bytes.
			for _, name := range f.RawPath {
				f.Path = append(f.Path, string(name))
			}
			f.RawPath = nil
		}
		if err := checkFid(f, len(st.Attaches)); err != nil {
			return fmt.Errorf("fid %d: %w", f.Fid, err)
		}
		if seen[f.Fid] {
			return fmt.Errorf("fid %d is saved twice", f.Fid)
		}
		seen[f.Fid] = true
		if names += len(f.Path); names > lim.names {
			return fmt.Errorf("the fids' paths have more than %d names in all", lim.names)
		}
	}
	return nil
}

// checkFid checks one saved fid, given how many attaches there are.
func checkFid(f *FidState, attaches int) error {
	switch {
	case f.Fid == noFid || f.Fid == reservedFid:
		return errors.New("not a fid a guest can hold")
	case f.Lost && (f.Attach != 0 || f.Path != nil || f.Open || f.Flags != 0 || f.QID != nil):
		return errors.New("lost, yet saved with a path or an attach")
	case f.Lost:
		return nil
	case f.Attach < 0 || f.Attach >= attaches:
		return fmt.Errorf("attach %d of %d", f.Attach, attaches)
	case !f.Open && f.Flags != 0:
		return fmt.Errorf("open flags %#o on a fid not open", f.Flags)
	}
	for i, name := range f.Path {
		// What the share would refuse to walk would lead nowhere, or
		// out of the share.
		if len(name) > maxNameLen || validName(name) != nil {
			return fmt.Errorf("path name %d (%q) is not a file name", i, name)
		}
	}
	return nil
}
