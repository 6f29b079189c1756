package virtio_test

import (
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

func TestTransportIdentity(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		d, _ := newEchoDriver(t, v, 0)
		if d.Read32(virtio.RegMagic) != 0x74726976 || d.Read32(virtio.RegVersion) != uint32(v) || d.Read32(virtio.RegDeviceID) != 42 {
			t.Errorf("v%d: magic %#x version %d device %d", v, d.Read32(virtio.RegMagic), d.Read32(virtio.RegVersion), d.Read32(virtio.RegDeviceID))
		}
		d.Write32(virtio.RegDeviceFeaturesSel, 1)
		hasV1 := d.Read32(virtio.RegDeviceFeatures)&1 != 0
		if hasV1 != (v == virtio.Modern) {
			t.Errorf("v%d: VERSION_1 offered = %v", v, hasV1)
		}
		// Narrow accesses to registers read as zero and change nothing.
		b := make([]byte, 2)
		d.Dev.ReadMMIO(virtio.RegMagic, b)
		if b[0] != 0 || b[1] != 0 {
			t.Errorf("a 16-bit register read returned %x", b)
		}
	}
}

func TestTransportFeatureNegotiation(t *testing.T) {
	d := virtiotest.New(t, virtio.Modern, &echoDevice{})
	for _, tc := range []struct {
		name string
		feat uint64
		ok   bool
	}{
		{"unoffered feature", 1<<virtio.FeatureVersion1 | 1<<40, false},
		{"no VERSION_1", 1 << echoFeature, false},
		{"offered subset", 1<<virtio.FeatureVersion1 | 1<<echoFeature, true},
	} {
		d.Write32(virtio.RegStatus, 0)
		d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
		for sel := uint32(0); sel < 2; sel++ {
			d.Write32(virtio.RegDriverFeaturesSel, sel)
			d.Write32(virtio.RegDriverFeatures, uint32(tc.feat>>(32*sel)))
		}
		d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
		if got := d.Read32(virtio.RegStatus)&virtio.StatusFeaturesOK != 0; got != tc.ok {
			t.Errorf("%s: FEATURES_OK kept = %v, want %v", tc.name, got, tc.ok)
		}
	}
	// DRIVER_OK without FEATURES_OK breaks the device.
	d.Write32(virtio.RegStatus, 0)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusDriverOK)
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Errorf("DRIVER_OK without FEATURES_OK accepted")
	}
	d.Write32(virtio.RegStatus, 0)
	if d.Read32(virtio.RegStatus) != 0 {
		t.Errorf("reset did not clear the status")
	}
}

func TestTransportInterruptStatusAndReset(t *testing.T) {
	d, _ := newEchoDriver(t, virtio.Modern, 0)
	if !echo(t, d, "ping", false) {
		t.Fatal("request failed")
	}
	select {
	case <-d.IRQs:
	case <-time.After(time.Second):
		t.Fatal("no interrupt for a used buffer")
	}
	if d.Read32(virtio.RegInterruptStatus)&virtio.InterruptUsedBuffer == 0 {
		t.Errorf("InterruptStatus lacks the used-buffer bit")
	}
	d.Write32(virtio.RegInterruptACK, virtio.InterruptUsedBuffer)
	if d.Read32(virtio.RegInterruptStatus) != 0 {
		t.Errorf("InterruptACK did not clear the status")
	}
	// Reset stops the device and forgets the queue; a new setup works.
	d.Write32(virtio.RegStatus, 0)
	d.Write32(virtio.RegQueueSel, 0)
	if d.Read32(virtio.RegQueueReady) != 0 {
		t.Errorf("queue still ready after reset")
	}
	d.Setup(8, 0)
	if !echo(t, d, "pong", false) {
		t.Errorf("the device does not work after a reset")
	}
}

func TestTransportNoEventIdxHonoursNoInterrupt(t *testing.T) {
	d, _ := newEchoDriver(t, virtio.Modern, 1<<virtio.FeatureEventIdx)
	// VRING_AVAIL_F_NO_INTERRUPT: the driver polls, wants no interrupts.
	d.SetAvailFlags(virtio.AvailFNoInterrupt)
	echo(t, d, "quiet", false)
	select {
	case <-d.IRQs:
		t.Errorf("interrupt despite VRING_AVAIL_F_NO_INTERRUPT")
	case <-time.After(50 * time.Millisecond):
	}
	d.SetAvailFlags(0)
	echo(t, d, "loud", false)
	select {
	case <-d.IRQs:
	case <-time.After(time.Second):
		t.Errorf("no interrupt once the driver clears NO_INTERRUPT")
	}
}

// TestTransportServesIndirectAndLegacy: a request through an indirect
// table, and one on a legacy transport, are served alike.
func TestTransportServesIndirectAndLegacy(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		d, _ := newEchoDriver(t, v, 0)
		echo(t, d, "direct", false)
		echo(t, d, "indirect", true)
	}
}
