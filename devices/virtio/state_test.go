package virtio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// saveAndRestore does what a snapshot and a restore do to d's transport:
// it pauses it, saves it, closes it (the saved machine is gone), and
// restores the state into a fresh transport of version v with a fresh
// echo device over the same guest memory.
func saveAndRestore(t *testing.T, d *virtiotest.Driver, v virtio.TransportVersion) (*virtiotest.Driver, *echoDevice) {
	t.Helper()
	d.Pause()
	st := d.MustSave()
	d.Close()
	e := &echoDevice{}
	n, err := d.Restore(v, e, st)
	if err != nil {
		t.Fatalf("restoring %s: %v", st, err)
	}
	return n, e
}

func waitIRQ(t *testing.T, d *virtiotest.Driver, what string) {
	t.Helper()
	select {
	case <-d.IRQs:
	case <-time.After(5 * time.Second):
		t.Errorf("%s: no interrupt", what)
	}
}

// TestStateRoundTrip: a device that served requests, saved while paused
// and restored into a fresh transport, reads back the same registers and
// goes on where it was: the used ring continues (across its wrap), and
// interrupts come.
func TestStateRoundTrip(t *testing.T) {
	for _, v := range transports {
		for _, drop := range []uint64{0, 1 << virtio.FeatureEventIdx} {
			t.Run(fmt.Sprintf("v%d/eventidx=%v", v, drop == 0), func(t *testing.T) {
				d, old := newEchoDriver(t, v, drop)
				for i := range 20 { // past the 16 entries of the ring
					echo(t, d, fmt.Sprintf("before %d", i), i%2 == 0)
				}
				drainIRQs(d)
				regs := []uint64{virtio.RegStatus, virtio.RegInterruptStatus, virtio.RegQueueReady, virtio.RegQueuePFN}
				before := make([]uint32, len(regs))
				for i, r := range regs {
					before[i] = d.Read32(r)
				}
				n, e := saveAndRestore(t, d, v)
				for i, r := range regs {
					if got := n.Read32(r); got != before[i] {
						t.Errorf("register %#x reads %#x after the restore, %#x before", r, got, before[i])
					}
				}
				if e.handled.Load() != 20 {
					t.Errorf("the restored device's own state: %d handled, want 20", e.handled.Load())
				}
				n.Write32(virtio.RegInterruptACK, virtio.InterruptUsedBuffer)
				for i := range 20 {
					n.SetUsedEvent(n.UsedIdx())
					echo(t, n, fmt.Sprintf("after %d", i), i%2 == 1)
					waitIRQ(t, n, "a request after the restore")
				}
				if n.UsedIdx() != 40 || e.handled.Load() != 40 || old.handled.Load() != 20 {
					t.Errorf("used index %d, handled %d after the restore and %d before, want 40, 40, 20", n.UsedIdx(), e.handled.Load(), old.handled.Load())
				}
				if n.Read32(virtio.RegInterruptStatus)&virtio.InterruptUsedBuffer == 0 {
					t.Errorf("the restored transport's interrupt status lacks the used-buffer bit")
				}
			})
		}
	}
}

// TestStateRequestBeforeSave: a request the driver made available and
// kicked while the machine was paused is not served by the saved device,
// and is served once by the restored one, with an interrupt.
func TestStateRequestBeforeSave(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			d, old := newEchoDriver(t, v, 0)
			echo(t, d, "first", false)
			drainIRQs(d)
			d.SetUsedEvent(d.UsedIdx())
			d.Pause()
			out := submitEcho(d, "just before the save", false)
			d.Kick() // the saved device's goroutine takes the kick, and waits at the gate
			n, e := saveAndRestore(t, d, v)
			checkEcho(t, n, out, "just before the save")
			waitIRQ(t, n, "the request after the restore")
			quiet(t, n, "after the request")
			if old.handled.Load() != 1 || e.handled.Load() != 2 || n.UsedIdx() != 2 {
				t.Errorf("handled %d before the save and %d in all, used index %d: want 1, 2, 2", old.handled.Load(), e.handled.Load(), n.UsedIdx())
			}
		})
	}
}

// TestStateRequestInFlight: Pause waits for the request in flight, which
// completes on the saved device; its interrupt, which the saved device
// had not yet decided on, comes from the restored one, and the request
// is not performed again.
func TestStateRequestInFlight(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			old := &echoDevice{started: make(chan struct{}, 4), hold: make(chan struct{})}
			d := virtiotest.New(t, v, old)
			d.Setup(16, 0)
			out := submitEcho(d, "in flight", false)
			d.Kick()
			<-old.started
			paused := make(chan struct{})
			go func() {
				d.Pause()
				close(paused)
			}()
			// Pause waits for the request (TestPauseWaitsForRequestInFlight),
			// holding the device from then on.
			time.Sleep(50 * time.Millisecond)
			close(old.hold)
			<-paused
			st := d.MustSave()
			d.Close()
			if d.UsedIdx() != 1 || old.handled.Load() != 1 {
				t.Fatalf("Pause returned before the request in flight completed: used index %d", d.UsedIdx())
			}
			select {
			case <-d.IRQs:
				t.Fatal("the saved device interrupted after the pause")
			default:
			}
			e := &echoDevice{}
			n, err := d.Restore(v, e, st)
			if err != nil {
				t.Fatal(err)
			}
			checkEcho(t, n, out, "in flight")
			waitIRQ(t, n, "the request completed before the save")
			quiet(t, n, "after the restore")
			if e.handled.Load() != 1 || n.UsedIdx() != 1 {
				t.Errorf("the request was performed again: handled %d, used index %d", e.handled.Load(), n.UsedIdx())
			}
			echo(t, n, "next", false)
		})
	}
}

// TestStateBrokenStaysBroken: a device broken by a driver error is
// restored broken: it serves nothing until the driver resets it.
func TestStateBrokenStaysBroken(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			d, _ := newEchoDriver(t, v, 0)
			echo(t, d, "before", false)
			d.Write32(virtio.RegDriverFeatures, 0) // settled: a driver error
			d.WaitNeedsReset()
			status := d.Read32(virtio.RegStatus)
			n, e := saveAndRestore(t, d, v)
			if !n.NeedsReset() || n.Read32(virtio.RegStatus) != status {
				t.Fatalf("restored with status %#x (saved %#x), needs reset %v", n.Read32(virtio.RegStatus), status, n.NeedsReset())
			}
			// A broken device saved again stays broken.
			n.Pause()
			again, err := n.Save()
			n.Resume()
			if err != nil || !strings.Contains(string(again), `"NeedsReset":true`) {
				t.Errorf("saving the restored broken device: %v, %s", err, again)
			}
			brokenUntilReset(t, n, e, "")
		})
	}
}

// TestStateNotStateDevice: a transport whose device has no state of its
// own cannot be saved, nor restored; the error names it.
func TestStateNotStateDevice(t *testing.T) {
	d := virtiotest.New(t, virtio.Modern, plainDevice{&echoDevice{}})
	d.Setup(16, 0)
	d.Pause()
	defer d.Resume()
	_, err := d.Save()
	if !errors.Is(err, vmm.ErrNotSaveable) || !strings.Contains(err.Error(), "test") {
		t.Errorf("saving a device without a state: %v", err)
	}
	if err := d.Dev.(vmm.StateDevice).RestoreState([]byte("{}")); !errors.Is(err, vmm.ErrNotSaveable) {
		t.Errorf("restoring a device without a state: %v", err)
	}
}

// plainDevice is a Device that is no StateDevice.
type plainDevice struct{ virtio.Device }

// TestStateNeedsPause: a running device is saved only while paused; one
// that never ran needs no pause.
func TestStateNeedsPause(t *testing.T) {
	d := virtiotest.New(t, virtio.Modern, &echoDevice{})
	if _, err := d.Save(); err != nil {
		t.Errorf("saving a device that never ran: %v", err)
	}
	d.Setup(16, 0)
	if _, err := d.Save(); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("saving a running device that is not paused: %v", err)
	}
}

// validState is the saved state of a running echo device that served
// one request, as its State.
func validState(t testing.TB, v virtio.TransportVersion) virtio.State {
	d := virtiotest.New(t, v, &echoDevice{})
	d.Setup(16, 0)
	submitEcho(d, "x", false)
	d.Kick()
	d.Wait(1)
	d.Pause()
	b := d.MustSave()
	d.Resume()
	var s virtio.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStateRefusesHostile: a state no transport could have been in is
// refused with an error naming what is wrong, and leaves the transport
// fresh: a driver sets it up and it works.
func TestStateRefusesHostile(t *testing.T) {
	type mutation struct {
		name   string
		change func(s *virtio.State)
		says   string
	}
	ring := func(s *virtio.State) *virtio.RingState { return s.Queues[0].Ring }
	common := []mutation{
		{"another transport", func(s *virtio.State) { s.Transport = 3 - s.Transport }, "transport"},
		{"another device", func(s *virtio.State) { s.DeviceID = 2 }, "type 2"},
		{"other features offered", func(s *virtio.State) { s.Offered ^= 1 << echoFeature }, "offered"},
		{"a queue more", func(s *virtio.State) { s.Queues = append(s.Queues, s.Queues[0]) }, "queues"},
		{"no queue", func(s *virtio.State) { s.Queues = nil }, "queues"},
		{"a status bit no driver sets", func(s *virtio.State) { s.Status |= 0x10 }, "status"},
		{"a status beyond 8 bits", func(s *virtio.State) { s.Status |= 0x100 }, "status"},
		{"DEVICE_NEEDS_RESET while it runs", func(s *virtio.State) { s.Status |= virtio.StatusDeviceNeedsReset }, "status"},
		{"a feature never offered", func(s *virtio.State) { s.DriverFeatures |= 1 << 40 }, "never offered"},
		{"an interrupt no device raises", func(s *virtio.State) { s.InterruptStatus = 4 }, "interrupt"},
		{"queue size 3", func(s *virtio.State) { s.Queues[0].Size = 3 }, "power of 2"},
		{"queue size above the largest", func(s *virtio.State) { s.Queues[0].Size = 512 }, "power of 2"},
		{"the device taken more than the ring holds", func(s *virtio.State) { ring(s).NextAvail += 17 }, "ring position"},
		{"used more than taken", func(s *virtio.State) { ring(s).UsedIdx++ }, "ring position"},
		{"added more than taken", func(s *virtio.State) { ring(s).UsedAdded++ }, "ring position"},
		{"a running queue without its place", func(s *virtio.State) { s.Queues[0].Ring = nil }, "place"},
		{"a place in a queue that never ran", func(s *virtio.State) {
			s.Status &^= virtio.StatusDriverOK
		}, "never ran"},
		{"the device's own state", func(s *virtio.State) { s.Device = []byte(`{"Handled":-1}`) }, "echo state"},
		{"no device state", func(s *virtio.State) { s.Device = nil }, "echo state"},
	}
	modern := []mutation{
		{"rings outside RAM", func(s *virtio.State) { s.Queues[0].Used = 0x1000 }, "outside guest RAM"},
		{"rings misaligned", func(s *virtio.State) { s.Queues[0].Desc++ }, "aligned"},
		{"FEATURES_OK without VERSION_1", func(s *virtio.State) { s.DriverFeatures &^= 1 << virtio.FeatureVersion1 }, "VERSION_1"},
		{"DRIVER_OK without FEATURES_OK", func(s *virtio.State) { s.Status &^= virtio.StatusFeaturesOK }, "FEATURES_OK"},
		{"a legacy register", func(s *virtio.State) { s.Queues[0].PFN = 1 }, "legacy"},
		{"a guest page size", func(s *virtio.State) { s.GuestPageSize = 8192 }, "page size"},
		{"broken without DEVICE_NEEDS_RESET", func(s *virtio.State) { s.NeedsReset = true }, "disagree"},
	}
	legacy := []mutation{
		{"rings past RAM", func(s *virtio.State) { s.Queues[0].PFN = 0xfffff }, "outside guest RAM"},
		{"a page size not a power of 2", func(s *virtio.State) { s.GuestPageSize = 3 }, "page size"},
		{"an alignment not a power of 2", func(s *virtio.State) { s.Queues[0].Align = 3 }, "alignment"},
		{"a modern register", func(s *virtio.State) { s.Queues[0].Desc = virtiotest.RAMBase }, "modern"},
		{"DEVICE_NEEDS_RESET", func(s *virtio.State) { s.Status |= virtio.StatusDeviceNeedsReset; s.NeedsReset = true }, "legacy"},
	}
	for _, v := range transports {
		cases := append(append([]mutation(nil), common...), modern...)
		if v == virtio.Legacy {
			cases = append(append([]mutation(nil), common...), legacy...)
		}
		for _, m := range cases {
			t.Run(fmt.Sprintf("v%d/%s", v, m.name), func(t *testing.T) {
				s := validState(t, v)
				m.change(&s)
				b, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				refused(t, v, b, m.says)
			})
		}
		for name, b := range map[string]string{
			"not JSON":           "\x00\x01",
			"an unknown field":   `{"Transport":2,"Extra":1}`,
			"data after it":      `{} {}`,
			"a list":             `[1,2]`,
			"a huge queue index": `{"Queues":[{"Size":65536}]}`,
		} {
			t.Run(fmt.Sprintf("v%d/%s", v, name), func(t *testing.T) { refused(t, v, []byte(b), "") })
		}
	}
}

// refused checks that state is refused by a fresh transport of version
// v, with an error that says says, and that the transport is fresh
// afterwards.
func refused(t *testing.T, v virtio.TransportVersion, state []byte, says string) {
	t.Helper()
	e := &echoDevice{}
	d := virtiotest.New(t, v, e)
	err := d.Dev.(vmm.StateDevice).RestoreState(state)
	if err == nil {
		t.Fatalf("state %s accepted", state)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("refused with %q, want it to say %q", err, says)
	}
	if s := d.Read32(virtio.RegStatus); s != 0 || d.NeedsReset() {
		t.Errorf("a refused state left status %#x", s)
	}
	d.Setup(16, 0)
	echo(t, d, "after a refused state", false)
}

// TestStatusUndefinedBits: the status register keeps only the bits a
// driver sets, so that every state saved is one a restore takes.
func TestStatusUndefinedBits(t *testing.T) {
	for _, v := range transports {
		d := virtiotest.New(t, v, &echoDevice{})
		d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|0x10|0x20|0x100)
		if s := d.Read32(virtio.RegStatus); s != virtio.StatusAcknowledge {
			t.Errorf("v%d: status %#x, want only ACKNOWLEDGE", v, s)
		}
		d.Pause()
		st := d.MustSave()
		d.Resume()
		if _, err := d.Restore(v, &echoDevice{}, st); err != nil {
			t.Errorf("v%d: the state saved is refused: %v", v, err)
		}
	}
}

// TestQueueNumOutOfRange: a QueueNum that no queue can have is a driver
// error when written, before DRIVER_OK too.
func TestQueueNumOutOfRange(t *testing.T) {
	for _, v := range transports {
		for _, num := range []uint32{3, 2 * virtio.MaxQueueSize, 1 << 20} {
			t.Run(fmt.Sprintf("v%d/%d", v, num), func(t *testing.T) {
				e := &echoDevice{}
				d := virtiotest.New(t, v, e)
				d.UseRing(16, ramBase, ramBase+0x4000, ramBase+0x8000) // for brokenUntilReset's request
				d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
				d.Write32(virtio.RegQueueSel, 0)
				d.Write32(virtio.RegQueueNum, num)
				brokenUntilReset(t, d, e, "driver error: QueueNum")
			})
		}
	}
}
