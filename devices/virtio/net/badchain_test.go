package net

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// Each hostile chain on the transmit queue must leave gokvm running, touch
// nothing outside guest RAM, send nothing, and put the device in
// DEVICE_NEEDS_RESET; after a reset it works.
func TestBadChainsNeedReset(t *testing.T) {
	for _, tc := range virtiotest.BadChains() {
		t.Run(tc.Name, func(t *testing.T) {
			d, n, peer := newNetDriver(t, tc.Drop)
			d.SelectQueue(netTX)
			tc.Make(d)
			d.Kick()
			d.WaitStatus(virtio.StatusDeviceNeedsReset)
			if d.Read32(virtio.RegInterruptStatus)&virtio.InterruptConfigChange == 0 {
				t.Errorf("no config-change interrupt with DEVICE_NEEDS_RESET")
			}
			if log := d.Log(); !strings.HasPrefix(log, "test: transmit queue: malformed descriptor chain") || !strings.HasSuffix(log, "; the device needs a reset\n") {
				t.Errorf("logged %q", log)
			}
			if _, err := unix.Read(peer, make([]byte, 1<<17)); err != unix.EAGAIN {
				t.Errorf("the backend got a frame, or %v", err)
			}
			if n.Stats.TxPackets.Load()+n.Stats.TxDropped.Load() != 0 {
				t.Errorf("a bad chain was transmitted or dropped: %s", &n.Stats)
			}
			d.Setup(16, tc.Drop)
			d.SelectQueue(netTX)
			good := append(netHdr(0, 0, 0, 0, 0, 0), frame(64)...)
			d.Submit([]virtiotest.Seg{{GPA: d.Buf(good, 0), N: uint32(len(good))}}, false)
			d.Kick()
			if got := recvNet(t, peer); !bytes.Equal(got, good) {
				t.Errorf("the device does not work after a reset")
			}
		})
	}
}
