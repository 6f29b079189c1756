package exitdev

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/devstate/devstatetest"
)

func r32(d *Device, off uint64) uint32 {
	b := make([]byte, 4)
	d.ReadMMIO(off, b)
	return binary.LittleEndian.Uint32(b)
}

// fetch reads the command as the guest init does: CMDLEN, then the
// window, CommandWindow bytes at a time, in reads of width bytes (4, or 8
// for a 64-bit init).
func fetch(d *Device, width int) []byte {
	n := r32(d, RegCmdLen)
	out := make([]byte, 0, n)
	for off := uint32(0); off < n; off += CommandWindow {
		w32(d, RegCmdOff, off)
		for i := uint64(0); i < CommandWindow && uint32(len(out)) < n; i += uint64(width) {
			b := make([]byte, width)
			d.ReadMMIO(RegCmdData+i, b)
			out = append(out, b[:min(width, int(n)-len(out))]...)
		}
	}
	return out
}

func TestCommandWindow(t *testing.T) {
	d := New()
	if r32(d, RegCmdLen) != 0 {
		t.Fatal("a command before gokvm gave one")
	}
	w32(d, RegState, StateWarm)
	select {
	case <-d.Warm():
	default:
		t.Fatal("STATE 3 did not make the device warm")
	}
	cmd := []byte(strings.Repeat(`{"command":["true"]}`, 300)) // several windows, not a multiple of 4
	cmd = append(cmd, 'x')
	if err := d.SetCommand(cmd); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int{4, 8} {
		if got := fetch(d, width); !bytes.Equal(got, cmd) {
			t.Fatalf("the guest read %d bytes, %d at a time, that differ from the %d given", len(got), width, len(cmd))
		}
	}
	if err := d.SetCommand([]byte("again")); err == nil {
		t.Error("a second command was taken")
	}
	if err := New().SetCommand(make([]byte, MaxCommand+1)); err == nil {
		t.Error("a command over MaxCommand was taken")
	}
	if err := New().SetCommand(nil); err == nil {
		t.Error("an empty command was taken")
	}
}

// TestCommandWindowHostile: offsets and widths a guest may write read
// zeros past the command and never fail.
func TestCommandWindowHostile(t *testing.T) {
	d := New()
	d.SetCommand([]byte("abcdefgh"))
	for _, off := range []uint32{0xffffffff, 0xfffffffc, 7, 8, 1 << 31} {
		w32(d, RegCmdOff, off)
		for _, size := range []int{1, 2, 4, 8} {
			b := make([]byte, size)
			d.ReadMMIO(RegCmdData+CommandWindow-1, b)
			d.ReadMMIO(RegCmdData, b)
			if off >= 8 && !bytes.Equal(b, make([]byte, size)) {
				t.Errorf("offset %#x: read %x past the command", off, b)
			}
		}
	}
	w32(d, RegCmdOff, 6)
	b := make([]byte, 4)
	d.ReadMMIO(RegCmdData, b)
	if string(b) != "gh\x00\x00" {
		t.Errorf("the command's tail read %q", b)
	}
}

// saved is d's state.
func saved(t *testing.T, d *Device) []byte {
	t.Helper()
	st, err := d.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// restore makes a new device from a saved state.
func restore(t *testing.T, st []byte) *Device {
	t.Helper()
	r := New()
	if err := r.RestoreState(st); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStateRoundTrip(t *testing.T) {
	d := New()
	w32(d, RegState, StateWarm)
	r := restore(t, saved(t, d))
	select {
	case <-r.Warm():
	default:
		t.Fatal("a warm device restored cold")
	}
	select {
	case <-r.Ready():
		t.Fatal("a device restored ready that was not")
	case <-r.Started():
		t.Fatal("a device restored started that was not")
	case <-r.Reported():
		t.Fatal("a device restored with a status that had none")
	default:
	}
	if r32(r, RegCmdLen) != 0 {
		t.Fatal("a restored warm device has a command")
	}
	if err := r.SetCommand([]byte(`{"command":["true"]}`)); err != nil {
		t.Fatal(err)
	}

	// A device in the middle of a run: ready, started, a message.
	d = New()
	d.SetCommand([]byte("cmd"))
	w32(d, RegState, StateReady)
	w32(d, RegState, StateStarted)
	d.WriteMMIO(RegMessage, []byte("oops"))
	w32(d, RegStatus, StatusValid|3)
	st := saved(t, d)
	r = restore(t, st)
	if got, want := r.Report(), d.Report(); got != want {
		t.Errorf("restored report %+v, saved %+v", got, want)
	}
	<-r.Ready()
	<-r.Started()
	<-r.Reported()
	if string(fetch(r, 8)) != "cmd" {
		t.Error("the command did not survive the restore")
	}
	if err := r.RestoreState(st); err == nil {
		t.Error("a state restored onto a used device")
	}
}

func TestStateHostile(t *testing.T) {
	for _, st := range []string{
		``, `{}x`, `{"warm":true,"extra":1}`, `{"status":256}`, `{"status":-1}`,
		`{"message":"` + strings.Repeat("QUFB", MessageSize) + `"}`,
	} {
		if err := New().RestoreState([]byte(st)); err == nil {
			t.Errorf("state %.40q restored", st)
		}
	}
	if err := New().RestoreState([]byte(`{}`)); err != nil {
		t.Errorf("an unused device's state: %v", err)
	}
}

// TestStateRefusesNewer: a state with a field this gokvm does not know is
// refused, not half restored.
func TestStateRefusesNewer(t *testing.T) {
	d := New()
	w32(d, RegState, StateWarm)
	devstatetest.RefusesNewer(t, saved(t, d), func() devstatetest.Restorer { return New() })
}
