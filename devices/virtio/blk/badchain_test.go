package blk

import (
	"os"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// Each hostile chain must leave gokvm running, touch nothing outside guest
// RAM, leave the disk alone, and put the device in DEVICE_NEEDS_RESET;
// after a reset it works.
func TestBadChainsNeedReset(t *testing.T) {
	for _, tc := range virtiotest.BadChains() {
		t.Run(tc.Name, func(t *testing.T) {
			path := tempImage(t, 64<<10, 0x5a)
			before, _ := os.ReadFile(path)
			d, _ := newBlockDriver(t, DiskOptions{Path: path}, virtio.Modern, tc.Drop)
			tc.Make(d)
			d.Kick()
			d.WaitStatus(virtio.StatusDeviceNeedsReset)
			if d.Read32(virtio.RegInterruptStatus)&virtio.InterruptConfigChange == 0 {
				t.Errorf("no config-change interrupt with DEVICE_NEEDS_RESET")
			}
			if log := d.Log(); !strings.HasPrefix(log, "test: request queue: malformed descriptor chain") || !strings.HasSuffix(log, "; the device needs a reset\n") {
				t.Errorf("logged %q", log)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("the disk changed")
			}
			d.Setup(16, tc.Drop)
			if st, _, _ := request(d, blkTIn, 0, nil, 512, false); st != blkSOK {
				t.Errorf("the device does not work after a reset")
			}
		})
	}
}
