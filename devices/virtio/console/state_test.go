package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// TestStateKeepsInput: input that waited for the guest's receive buffers
// when the machine was saved is given to the guest by the restored
// console (made as the machine makes it, Spec), whose transmit queue
// goes on too.
func TestStateKeepsInput(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			d, c, out := newConsole(t, v)
			d.Setup(16, 0)
			d.SelectQueue(transmitq)
			d.Submit([]virtiotest.Seg{{GPA: d.Buf([]byte("before "), 0), N: 7}}, false)
			d.Kick()
			d.Wait(1)
			feed(t, c, "typed before the save")
			d.Pause()
			state := d.MustSave()
			d.Close()
			c.Close()
			var s virtio.State
			if err := json.Unmarshal(state, &s); err != nil || !strings.Contains(string(s.Device), "Input") {
				t.Fatalf("the saved state %s: %v", state, err)
			}
			out2 := &syncBuffer{}
			n, err := d.RestoreFromSpec(Spec("virtio-console", virtio.MMIOSpecs(v), out2, nil, nil), nil, state)
			if err != nil {
				t.Fatalf("restoring: %v", err)
			}
			n.SelectQueue(receiveq)
			buf := n.Buf(nil, 64)
			n.Submit([]virtiotest.Seg{{GPA: buf, N: 64, Writable: true}}, false)
			n.Kick()
			u := n.Wait(1)
			got := make([]byte, u[0].Len)
			n.Mem.Read(buf, got)
			if string(got) != "typed before the save" {
				t.Errorf("received %q after the restore", got)
			}
			n.SelectQueue(transmitq)
			n.Submit([]virtiotest.Seg{{GPA: n.Buf([]byte("after"), 0), N: 5}}, false)
			n.Kick()
			n.Wait(1)
			if out.String() != "before " || out2.String() != "after" {
				t.Errorf("sent %q before and %q after the restore", out.String(), out2.String())
			}
			if n.Read32(virtio.RegStatus)&virtio.StatusDriverOK == 0 {
				t.Error("the restored console does not run")
			}
			select {
			case <-n.IRQs:
			case <-time.After(time.Second):
				t.Error("no interrupt after the restore")
			}
		})
	}
}

// TestDeviceState: more input than the console holds is refused.
func TestDeviceState(t *testing.T) {
	c := New(nil, nil)
	defer c.Close()
	big, _ := json.Marshal(State{Input: make([]byte, inputSize+1)})
	for _, bad := range []string{"", `{"Input":"AA==","X":1}`, string(big)} {
		if err := c.RestoreDeviceState([]byte(bad)); err == nil {
			t.Errorf("state %.40q accepted", bad)
		}
	}
	if !c.in.empty() {
		t.Error("a refused state left input")
	}
}
