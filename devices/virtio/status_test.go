package virtio_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

var transports = []virtio.TransportVersion{virtio.Modern, virtio.Legacy}

// brokenUntilReset checks what a driver error leaves: the device needs a
// reset (DEVICE_NEEDS_RESET on a modern transport), the error is logged,
// a new request is not served, and after a reset the device works again.
func brokenUntilReset(t *testing.T, d *virtiotest.Driver, e *echoDevice, logged string) {
	t.Helper()
	d.WaitNeedsReset()
	modern := d.Read32(virtio.RegVersion) == uint32(virtio.Modern)
	if s := d.Read32(virtio.RegStatus); modern != (s&virtio.StatusDeviceNeedsReset != 0) {
		t.Errorf("status %#x: DEVICE_NEEDS_RESET must be shown on a modern transport only", s)
	}
	if log := d.Log(); !strings.Contains(log, logged) {
		t.Errorf("logged %q, want it to say %q", log, logged)
	}
	handled := e.handled.Load()
	submitEcho(d, "not served", false)
	d.Kick()
	time.Sleep(50 * time.Millisecond)
	if e.handled.Load() != handled || d.Pending() != 0 {
		t.Errorf("a broken device served a request")
	}
	d.Setup(16, 0)
	if !echo(t, d, "after reset", false) {
		t.Errorf("the device does not work after a reset")
	}
}

// TestStatusClearDriverOKMidRequest: a driver that clears DRIVER_OK
// without a reset, then rewrites the queue's registers, while a request
// is in flight: the writes are ignored, the request in flight completes
// on the queue as it was, and the device serves nothing more until reset.
func TestStatusClearDriverOKMidRequest(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			e := &echoDevice{started: make(chan struct{}, 4), hold: make(chan struct{})}
			d := virtiotest.New(t, v, e)
			d.Setup(16, 0)
			out := submitEcho(d, "in flight", false)
			d.Kick()
			<-e.started
			status := d.Read32(virtio.RegStatus)
			d.Write32(virtio.RegStatus, status&^virtio.StatusDriverOK)
			d.Write32(virtio.RegQueueSel, 0)
			d.Write32(virtio.RegQueueNum, 0)
			if v == virtio.Legacy {
				d.Write32(virtio.RegQueuePFN, 1) // below RAM
			} else {
				d.Write32(virtio.RegQueueReady, 0)
				d.Write32(virtio.RegQueueDeviceLow, 0x1000)
				d.Write32(virtio.RegQueueReady, 1)
			}
			close(e.hold)
			checkEcho(t, d, out, "in flight")
			if s := d.Read32(virtio.RegStatus); s&virtio.StatusDriverOK == 0 {
				t.Errorf("status %#x: clearing DRIVER_OK was not ignored", s)
			}
			brokenUntilReset(t, d, e, "driver error: status")
		})
	}
}

// TestQueueRegistersWhileRunning: a running queue's registers cannot be
// written: each write is a driver error, ignored.
func TestQueueRegistersWhileRunning(t *testing.T) {
	type write struct {
		name string
		reg  uint64
		val  uint32
	}
	cases := map[virtio.TransportVersion][]write{
		virtio.Modern: {
			{"QueueNum 0", virtio.RegQueueNum, 0},
			{"QueueNum not a power of 2", virtio.RegQueueNum, 3},
			{"QueueReady 0", virtio.RegQueueReady, 0},
			{"descriptor table outside RAM", virtio.RegQueueDescLow, 0x1000},
			{"driver area moved", virtio.RegQueueDriverLow, virtiotest.RAMBase + 0x100},
			{"device area outside RAM", virtio.RegQueueDeviceHigh, 1},
		},
		virtio.Legacy: {
			{"QueuePFN outside RAM", virtio.RegQueuePFN, 1},
			{"QueuePFN 0", virtio.RegQueuePFN, 0},
			{"QueuePFN moved", virtio.RegQueuePFN, virtiotest.RAMBase/4096 + 8},
			{"QueueNum 0", virtio.RegQueueNum, 0},
			{"QueueNum not a power of 2", virtio.RegQueueNum, 3},
			{"QueueAlign", virtio.RegQueueAlign, 1 << 16},
		},
	}
	for _, v := range transports {
		for _, w := range cases[v] {
			t.Run(fmt.Sprintf("v%d/%s", v, w.name), func(t *testing.T) {
				d, e := newEchoDriver(t, v, 0)
				echo(t, d, "before", false)
				d.Write32(virtio.RegQueueSel, 0)
				pfn, ready := d.Read32(virtio.RegQueuePFN), d.Read32(virtio.RegQueueReady)
				d.Write32(w.reg, w.val)
				if d.Read32(virtio.RegQueuePFN) != pfn || d.Read32(virtio.RegQueueReady) != ready {
					t.Errorf("the write took effect")
				}
				brokenUntilReset(t, d, e, "driver error: Queue")
			})
		}
		t.Run(fmt.Sprintf("v%d/no such queue", v), func(t *testing.T) {
			d, _ := newEchoDriver(t, v, 0)
			d.Write32(virtio.RegQueueSel, 7)
			d.Write32(virtio.RegQueueNum, 0)
			if d.NeedsReset() {
				t.Errorf("a write for a queue that does not exist broke the device")
			}
			echo(t, d, "still", false)
		})
	}
}

// TestFeaturesAfterSettled: the driver's features are fixed at
// FEATURES_OK (legacy: DRIVER_OK); a later write is a driver error.
func TestFeaturesAfterSettled(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d/running", v), func(t *testing.T) {
			d, e := newEchoDriver(t, v, 0)
			d.Write32(virtio.RegDriverFeaturesSel, 0)
			d.Write32(virtio.RegDriverFeatures, 0)
			brokenUntilReset(t, d, e, "driver error: DriverFeatures")
		})
	}
	t.Run("v2/after FEATURES_OK", func(t *testing.T) {
		e := &echoDevice{}
		d := virtiotest.New(t, virtio.Modern, e)
		d.UseRing(16, ramBase, ramBase+0x4000, ramBase+0x8000) // for brokenUntilReset's request
		d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
		d.Write32(virtio.RegDriverFeaturesSel, 1)
		d.Write32(virtio.RegDriverFeatures, 1) // VERSION_1
		d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
		if d.Read32(virtio.RegStatus)&virtio.StatusFeaturesOK == 0 {
			t.Fatal("FEATURES_OK refused")
		}
		d.Write32(virtio.RegDriverFeatures, 0)
		brokenUntilReset(t, d, e, "driver error: DriverFeatures")
	})
}

// TestRingOutsideRAMAtActivation: a queue laid out outside guest RAM
// fails the activation: the device needs a reset and serves nothing.
func TestRingOutsideRAMAtActivation(t *testing.T) {
	for _, v := range transports {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			e := &echoDevice{}
			d := virtiotest.New(t, v, e)
			d.UseRing(16, ramBase, ramBase+0x4000, ramBase+0x8000) // for brokenUntilReset's request
			status := uint32(virtio.StatusAcknowledge | virtio.StatusDriver)
			d.Write32(virtio.RegStatus, status)
			d.Write32(virtio.RegQueueSel, 0)
			d.Write32(virtio.RegQueueNum, 16)
			if v == virtio.Legacy {
				d.Write32(virtio.RegGuestPageSize, 4096)
				d.Write32(virtio.RegQueuePFN, 1)
			} else {
				d.Write32(virtio.RegDriverFeaturesSel, 1)
				d.Write32(virtio.RegDriverFeatures, 1)
				status |= virtio.StatusFeaturesOK
				d.Write32(virtio.RegStatus, status)
				d.Write32(virtio.RegQueueDescLow, 0x1000)
				d.Write32(virtio.RegQueueDriverLow, virtiotest.RAMBase+0x4000)
				d.Write32(virtio.RegQueueDeviceLow, virtiotest.RAMBase+0x8000)
				d.Write32(virtio.RegQueueReady, 1)
			}
			d.Write32(virtio.RegStatus, status|virtio.StatusDriverOK)
			brokenUntilReset(t, d, e, "outside guest RAM")
		})
	}
}
