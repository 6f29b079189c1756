package net

import (
	"bytes"
	stdnet "net"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
)

// A vhost-net of Linux 6.1: VHOST_FEATURES, VHOST_NET_F_VIRTIO_NET_HDR,
// MRG_RXBUF, ACCESS_PLATFORM, and VERSION_1.
const kernel61 = 1<<24 | 1<<28 | 1<<29 | 1<<26 | 1<<27 | 1<<32 | 1<<27 | 1<<15 | 1<<33

// TestVhostNetFeatures: the vhost device offers what the userspace one
// does (offloads included), of the ring features only what the kernel
// implements.
func TestVhostNetFeatures(t *testing.T) {
	if got := vhostNetFeatures(netFeatures, kernel61); got != netFeatures {
		t.Errorf("with Linux 6.1's vhost-net: %#x, want the userspace device's %#x", got, netFeatures)
	}
	noMrg := uint64(kernel61 &^ (1<<15 | 1<<29))
	got := vhostNetFeatures(netFeatures, noMrg)
	if want := uint64(netFeatures &^ (1<<netFMrgRxbuf | 1<<virtio.FeatureEventIdx)); got != want {
		t.Errorf("kernel without MRG_RXBUF and EVENT_IDX: %#x, want %#x", got, want)
	}
	if got&(1<<netFGuestTSO4) == 0 || got&(1<<netFCsum) == 0 || got&(1<<netFMAC) == 0 {
		t.Errorf("offloads or MAC dropped: %#x", got)
	}
}

// TestVhostKernelFeatures: the kernel hears only of features it knows,
// and never of VHOST_NET_F_VIRTIO_NET_HDR (the tap takes the guest's
// header as it is), whatever the driver acked.
func TestVhostKernelFeatures(t *testing.T) {
	negotiated := uint64(netFeatures | 1<<virtio.FeatureVersion1)
	got := kernelFeatures(negotiated, kernel61)
	want := uint64(1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx | 1<<netFMrgRxbuf | 1<<virtio.FeatureVersion1)
	if got != want {
		t.Errorf("kernel told %#x, want %#x", got, want)
	}
	if kernelFeatures(^uint64(0), kernel61)&(1<<vhost.FeatureNetVirtioHdr) != 0 {
		t.Error("VHOST_NET_F_VIRTIO_NET_HDR passed on")
	}
}

// TestVhostNetConfig: the config space is the userspace device's (MAC,
// link up, one queue pair), at every offset and width.
func TestVhostNetConfig(t *testing.T) {
	mac := stdnet.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}
	v := &VhostNet{mac: mac, vhostFeatures: kernel61}
	u := New("u", nil, mac, nil)
	for off := uint64(0); off < 16; off++ {
		for _, width := range []int{1, 2, 4, 8} {
			a, b := make([]byte, width), make([]byte, width)
			v.ReadConfig(off, a)
			u.ReadConfig(off, b)
			if !bytes.Equal(a, b) {
				t.Errorf("offset %d width %d: %x, userspace %x", off, width, a, b)
			}
		}
	}
	v.WriteConfig(0, []byte{1, 2, 3, 4, 5, 6})
	got := make([]byte, 6)
	v.ReadConfig(0, got)
	if !bytes.Equal(got, mac) {
		t.Errorf("MAC %x after a driver wrote it, want %x", got, mac)
	}
	if v.DeviceID() != virtio.DeviceIDNet || len(v.QueueMaxSizes()) != 2 || len(v.FDNotifiedQueues()) != 2 {
		t.Errorf("device %d, queues %v, kernel's %v", v.DeviceID(), v.QueueMaxSizes(), v.FDNotifiedQueues())
	}
}
