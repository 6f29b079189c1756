package virtio_test

import (
	"sync"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// featureDevice offers one feature bit and records what each Activate was
// given.
type featureDevice struct {
	mu        sync.Mutex
	activated []virtio.ActivateEnv
}

func (f *featureDevice) DeviceID() uint32           { return 42 }
func (f *featureDevice) Features() uint64           { return 1 << echoFeature }
func (f *featureDevice) QueueMaxSizes() []uint16    { return []uint16{16} }
func (f *featureDevice) ReadConfig(uint64, []byte)  {}
func (f *featureDevice) WriteConfig(uint64, []byte) {}
func (f *featureDevice) Reset()                     {}
func (f *featureDevice) Activate(env virtio.ActivateEnv) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.activated = append(f.activated, env)
	return nil
}

func (f *featureDevice) activations() []virtio.ActivateEnv {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]virtio.ActivateEnv(nil), f.activated...)
}

// TestTransportFeaturesWithinOffered: a driver that asks for every feature
// bit gets, as the device sees it, only what the device offered. A legacy
// transport has no FEATURES_OK to refuse with: it drops the rest silently,
// as virtio 1.2's legacy interface allows, and the device runs with the
// offered bits (no ring feature it did not offer, no vhost bit such as
// VHOST_F_LOG_ALL, no VIRTIO_F_ACCESS_PLATFORM). A modern one refuses
// FEATURES_OK, and the device never runs with them.
func TestTransportFeaturesWithinOffered(t *testing.T) {
	const allOnes = ^uint64(0)
	for _, v := range []virtio.TransportVersion{virtio.Legacy, virtio.Modern} {
		dev := &featureDevice{}
		d := virtiotest.New(t, v, dev)
		offered := dev.Features()
		if v == virtio.Modern {
			offered |= 1 << virtio.FeatureVersion1
		}
		d.SetupFeatures(16, allOnes)
		got := dev.activations()
		for _, env := range got {
			if extra := env.Features &^ offered; extra != 0 {
				t.Errorf("v%d: the device was activated with %#x, of which %#x was never offered (offered %#x)", v, env.Features, extra, offered)
			}
			for i, q := range env.Queues {
				if q.EventIdx || q.Indirect {
					t.Errorf("v%d: queue %d runs with EVENT_IDX %v, INDIRECT_DESC %v, neither offered", v, i, q.EventIdx, q.Indirect)
				}
			}
		}
		switch v {
		case virtio.Legacy:
			if len(got) != 1 || got[0].Features != offered {
				var feats []uint64
				for _, env := range got {
					feats = append(feats, env.Features)
				}
				t.Errorf("legacy: activated with features %#x, want once with the offered %#x", feats, offered)
			}
		case virtio.Modern:
			if len(got) != 0 {
				t.Errorf("modern: activated %d times although FEATURES_OK was refused", len(got))
			}
			if !d.NeedsReset() {
				t.Errorf("modern: DRIVER_OK without FEATURES_OK did not break the device")
			}
		}
	}
}
