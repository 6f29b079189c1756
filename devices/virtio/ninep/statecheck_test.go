package ninep

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"golang.org/x/sys/unix"
)

// TestStateHostile: a saved session no device could have saved is
// refused, naming what is wrong, before anything changes.
func TestStateHostile(t *testing.T) {
	share, err := OpenShare(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := New("virtio-9p0", "share", share, nil)
	t.Cleanup(func() { dev.Close() })
	good := func() State {
		return State{Tag: "share", Msize: 65536, Version: "9P2000.L",
			Attaches: []AttachState{{Uname: "root"}},
			Fids:     []FidState{{Fid: 1}, {Fid: 2, Path: []string{"a", "b"}, Open: true, Flags: 2}, {Fid: 3, Lost: true}}}
	}
	enc := func(s State) string {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if err := dev.RestoreDeviceState([]byte(enc(good()))); err != nil {
		t.Fatalf("a good state: %v", err)
	}
	with := func(f func(s *State)) string {
		s := good()
		f(&s)
		return enc(s)
	}
	manyFids := func() string {
		var b strings.Builder
		b.WriteString(`{"Tag":"share","Msize":65536,"Fids":[`)
		for i := 0; i <= maxSavedFids; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"Fid":%d,"Lost":true}`, i)
		}
		b.WriteString("]}")
		return b.String()
	}
	for _, tc := range []struct{ name, state, want string }{
		{"not JSON", "{", "unexpected EOF"},
		{"a field this gokvm does not know", `{"Tag":"share","Msize":65536,"Sessions":1}`, `unknown field "Sessions"`},
		{"data after the state", enc(good()) + "{}", "after its end"},
		{"another tag", with(func(s *State) { s.Tag = "other" }), `saved for mount tag "other", restored onto a share with tag "share"`},
		{"msize 0", with(func(s *State) { s.Msize = 0 }), "msize 0 is not within"},
		{"msize huge", with(func(s *State) { s.Msize = 1 << 30 }), "msize 1073741824 is not within"},
		{"version with NUL", with(func(s *State) { s.Version = "9P2000.L\x00" }), "version"},
		{"version too long", with(func(s *State) { s.Version = strings.Repeat("9", 100) }), "version"},
		{"path with ..", with(func(s *State) { s.Fids[1].Path = []string{"a", ".."} }), `fid 2: path name 1 ("..") is not a file name`},
		{"path with .", with(func(s *State) { s.Fids[1].Path = []string{"."} }), `fid 2: path name 0 (".")`},
		{"path with /", with(func(s *State) { s.Fids[1].Path = []string{"a/b"} }), `fid 2: path name 0 ("a/b")`},
		{"path with NUL", with(func(s *State) { s.Fids[1].Path = []string{"a\x00"} }), `fid 2: path name 0`},
		{"empty name", with(func(s *State) { s.Fids[1].Path = []string{"a", ""} }), `fid 2: path name 1 ("")`},
		{"name too long", with(func(s *State) { s.Fids[1].Path = []string{strings.Repeat("n", 256)} }), "fid 2: path name 0"},
		{"the device's fid", with(func(s *State) { s.Fids[0].Fid = reservedFid }), "fid 4294967294: not a fid a guest can hold"},
		{"NOFID", with(func(s *State) { s.Fids[0].Fid = noFid }), "not a fid a guest can hold"},
		{"a fid twice", with(func(s *State) { s.Fids[1].Fid = 1 }), "fid 1 is saved twice"},
		{"an attach not there", with(func(s *State) { s.Fids[1].Attach = 1 }), "fid 2: attach 1 of 1"},
		{"a negative attach", with(func(s *State) { s.Fids[1].Attach = -1 }), "fid 2: attach -1 of 1"},
		{"a path twice", with(func(s *State) { s.Fids[1].RawPath = [][]byte{[]byte("a")} }), "fid 2: a path saved both as strings and as bytes"},
		{"bytes with ..", with(func(s *State) { s.Fids[1].Path, s.Fids[1].RawPath = nil, [][]byte{[]byte("..")} }), `fid 2: path name 0 ("..")`},
		{"a user twice", with(func(s *State) { s.Attaches[0].RawUname = []byte("x") }), "attach 0: a name saved both"},
		{"lost with a path", with(func(s *State) { s.Fids[2].Path = []string{"x"} }), "fid 3: lost, yet saved with a path"},
		{"flags not open", with(func(s *State) { s.Fids[1].Open = false }), "fid 2: open flags 02 on a fid not open"},
		{"too many attaches", with(func(s *State) { s.Attaches = make([]AttachState, maxAttaches+1) }), "257 attaches"},
		{"a long user name", with(func(s *State) { s.Attaches[0].Uname = strings.Repeat("u", maxAttachString+1) }), "attach 0: a user or attach name longer"},
	} {
		err := dev.RestoreDeviceState([]byte(tc.state))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}

	// Counts past the bounds, which the real ones take megabytes of
	// JSON to reach: checked with small ones, and once at the real
	// size without -short.
	small := stateLimits{fids: 8, names: 8}
	for _, tc := range []struct {
		name string
		st   State
		want string
	}{
		{"too many fids", with2(good(), func(s *State) {
			for i := 0; i < 6; i++ {
				s.Fids = append(s.Fids, FidState{Fid: uint32(10 + i), Lost: true})
			}
		}), "9 fids, more than the 8"},
		{"too many names", with2(good(), func(s *State) {
			s.Fids[0].Path = []string{"a", "b", "c", "d", "e", "f", "g"}
		}), "more than 8 names in all"},
	} {
		if err := checkState(&tc.st, "share", small); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if !testing.Short() {
		if err := dev.RestoreDeviceState([]byte(manyFids())); err == nil || !strings.Contains(err.Error(), "1048577 fids, more than") {
			t.Errorf("a million fids and one: %v", err)
		}
	}
}

func with2(s State, f func(s *State)) State { f(&s); return s }

// FuzzNinepState feeds arbitrary saved sessions to a device's restore:
// it must refuse them or take them without panicking, and a session it
// takes is reopened on a fresh server, after which the device serves the
// guest and saves again.
func FuzzNinepState(f *testing.F) {
	dir := f.TempDir()
	hostFile(f, dir, "f", []byte("data"))
	// A saved transport to put the fuzzed session into.
	c := newClient(f, dir, false)
	c.attach(1)
	c.walk(1, 2, "f")
	c.ok(tLopen, enc(nil).u32(2).u32(unix.O_RDONLY))
	st := c.save()
	var ts virtio.State
	if err := json.Unmarshal(st, &ts); err != nil {
		f.Fatal(err)
	}
	// Each restore starts from the saved guest RAM, as a restored
	// machine does.
	ram := make([]byte, virtiotest.RAMSize)
	if err := c.d.Mem.Read(virtiotest.RAMBase, ram); err != nil {
		f.Fatal(err)
	}
	f.Add(ts.Device)
	f.Add([]byte(`{"Tag":"share","Msize":8192,"Version":"9P2000.L","Attaches":[{"Uname":"u","Aname":"/f","NUname":3}],"Fids":[{"Fid":0},{"Fid":5,"Path":["f"],"Open":true,"Flags":3,"QID":{"Type":0,"Path":1}},{"Fid":6,"Path":["f","g"]},{"Fid":7,"Lost":true}]}`))
	f.Add([]byte(`{"Tag":"share","Msize":8192,"Version":"","Attaches":[{}],"Fids":[{"Fid":9,"Path":["missing","f"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		share, _ := OpenShare(dir, Options{})
		dev, _ := New("virtio-9p0", "share", share, nil)
		defer dev.Close()
		if err := dev.RestoreDeviceState(b); err != nil {
			return
		}
		ts := ts
		ts.Device = b
		full, _ := json.Marshal(ts)
		// Through the transport, as a restored machine does: the
		// device is activated and reopens the session's fids.
		dev.Close()
		if err := c.d.Mem.Write(virtiotest.RAMBase, ram); err != nil {
			t.Fatal(err)
		}
		// What the restore makes ends with this input.
		c.t, c.d.T = t, t
		n, _, err := c.tryRestore(full, dir, Options{})
		if err != nil {
			t.Fatalf("a session the device took fails the restore: %v", err)
		}
		n.attach(100)
		n.ok(tGetattr, enc(nil).u32(100).u64(0x3fff))
		n.d.Pause()
		if _, err := n.d.Save(); err != nil {
			t.Errorf("saving again: %v", err)
		}
		n.d.Close()
	})
}
