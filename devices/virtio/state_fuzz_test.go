package virtio_test

import (
	"encoding/json"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// FuzzTransportState feeds arbitrary bytes to a fresh transport's
// RestoreState: nothing may panic, hang or fault. A state it takes is one
// it saves again (paused), and a fresh transport takes that one too; and
// whatever came of it, a driver's reset and set-up make the device work.
func FuzzTransportState(f *testing.F) {
	for _, v := range transports {
		s := validState(f, v)
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, v == virtio.Legacy)
		s.Status |= virtio.StatusDeviceNeedsReset
		s.NeedsReset = true
		if v == virtio.Legacy {
			s.Status &^= virtio.StatusDeviceNeedsReset
		}
		if b, err = json.Marshal(s); err != nil {
			f.Fatal(err)
		}
		f.Add(b, v == virtio.Legacy)
	}
	f.Add([]byte(`{"Queues":[{"Size":8}]}`), false)
	f.Fuzz(func(t *testing.T, state []byte, legacy bool) {
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		d := virtiotest.New(t, v, &echoDevice{})
		if err := d.Dev.(vmm.StateDevice).RestoreState(state); err == nil {
			d.Pause()
			again, err := d.Save()
			d.Resume()
			if err != nil {
				t.Fatalf("a restored state %s does not save: %v", state, err)
			}
			other := virtiotest.New(t, v, &echoDevice{})
			if err := other.Dev.(vmm.StateDevice).RestoreState(again); err != nil {
				t.Fatalf("the state %s saved from a restored %s is refused: %v", again, state, err)
			}
			other.Close()
		}
		d.Setup(16, 0)
		echo(t, d, "after a restore", false)
		if errs := d.Faults(); len(errs) > 0 {
			t.Fatalf("the device faulted: %v", errs)
		}
	})
}
