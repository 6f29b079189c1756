package vhost

import (
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// widening hands Rings more features than were negotiated, as a device
// that passed on the kernel's own (VHOST_GET_FEATURES) would.
type widening struct {
	*maxed
	extra uint64
}

func (w *widening) Activate(env virtio.ActivateEnv) error {
	return w.rings.Activate(env, env.Features|w.extra)
}

// TestRingsOnlyOfferedFeatures: the kernel is never told a feature the
// driver was not offered. A driver asking for every bit on a legacy
// transport reaches Rings with the offered ones only; a device that adds
// one (VHOST_F_LOG_ALL, VIRTIO_F_ACCESS_PLATFORM) is refused before any
// request reaches the kernel. The vhost device is a closed one: a request
// that reached it would fail saying so.
func TestRingsOnlyOfferedFeatures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version virtio.TransportVersion
		extra   uint64
		want    string
	}{
		{"legacy driver asking for every bit", virtio.Legacy, 0, "closed"},
		{"modern device adding VHOST_F_LOG_ALL", virtio.Modern, 1 << FeatureLogAll, "not offered"},
		{"legacy device adding VIRTIO_F_ACCESS_PLATFORM", virtio.Legacy, 1 << 33, "not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRings("test", &Dev{path: "/dev/vhost-test"}, []int{0, 1}, &countingBackend{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			dev := &widening{withMax(&ringsDevice{rings: r, n: 2}, 16), tc.extra}
			d := virtiotest.New(t, tc.version, dev)
			if tc.version == virtio.Legacy {
				d.SetupFeatures(16, ^uint64(0))
			} else {
				d.SetupFeatures(16, 1<<virtio.FeatureVersion1)
			}
			if !d.NeedsReset() {
				t.Fatalf("activation over a closed vhost device succeeded")
			}
			if !strings.Contains(d.Log(), tc.want) {
				t.Errorf("log %q, want it to say %q", d.Log(), tc.want)
			}
		})
	}
}
