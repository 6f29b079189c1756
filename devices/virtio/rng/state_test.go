package rng

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestStateRoundTrip: a request made while the machine was paused is
// filled once by the restored device, which goes on serving, with
// interrupts, from where the saved one was.
func TestStateRoundTrip(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			d, old := newDriver(t, v, nil)
			for range 3 {
				d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 64), N: 64, Writable: true}}, false)
				d.Kick()
				d.Wait(1)
			}
			d.SetUsedEvent(d.UsedIdx())
			d.Pause()
			buf := d.Buf(nil, 256)
			d.Submit([]virtiotest.Seg{{GPA: buf, N: 256, Writable: true}}, v == virtio.Modern)
			d.Kick()
			state := d.MustSave()
			d.Close()
			old.Reset()
			r := New(nil, nil)
			t.Cleanup(r.Reset)
			n, err := d.Restore(v, r, state)
			if err != nil {
				t.Fatalf("restoring: %v", err)
			}
			if u := n.Wait(1); u[0].Len != 256 || bytes.Count(readBuf(t, n, buf, 256), []byte{0}) > 16 {
				t.Errorf("the request after the restore: used %d bytes", u[0].Len)
			}
			select {
			case <-n.IRQs:
			case <-time.After(5 * time.Second):
				t.Error("no interrupt after the restore")
			}
			time.Sleep(50 * time.Millisecond)
			if n.UsedIdx() != 4 {
				t.Errorf("used index %d, want 4", n.UsedIdx())
			}
			n.Submit([]virtiotest.Seg{{GPA: n.Buf(nil, 8), N: 8, Writable: true}}, false)
			n.Kick()
			if u := n.Wait(1); u[0].Len != 8 {
				t.Errorf("the next request: used %d bytes", u[0].Len)
			}
		})
	}
}

// TestDeviceState: the device keeps nothing, in an object a later
// version can add to; anything else is refused.
func TestDeviceState(t *testing.T) {
	r := New(nil, nil)
	st, err := r.SaveDeviceState()
	if err != nil || string(st) != "{}" {
		t.Fatalf("state %s, %v", st, err)
	}
	if err := r.RestoreDeviceState(st); err != nil {
		t.Errorf("its own state refused: %v", err)
	}
	for _, bad := range []string{"", "null x", `{"Bytes":1}`, "[]"} {
		if err := r.RestoreDeviceState([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
}
