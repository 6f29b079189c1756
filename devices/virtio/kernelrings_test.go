package virtio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// kernelDevice stands for a vhost device: queue 0 is "the kernel's",
// which says where it is through RingStates; queue 1 is nobody's. It
// records how it was activated.
type kernelDevice struct {
	rings    map[int]virtio.RingState
	err      error
	restored []bool   // env.Restored, per activation
	next     []uint16 // queue 0's NextAvail, per activation
}

func (k *kernelDevice) DeviceID() uint32                 { return 43 }
func (k *kernelDevice) Features() uint64                 { return 1 << virtio.FeatureEventIdx }
func (k *kernelDevice) QueueMaxSizes() []uint16          { return []uint16{16, 16} }
func (k *kernelDevice) FDNotifiedQueues() []int          { return []int{0} }
func (k *kernelDevice) ReadConfig(uint64, []byte)        {}
func (k *kernelDevice) WriteConfig(uint64, []byte)       {}
func (k *kernelDevice) Reset()                           {}
func (k *kernelDevice) SaveDeviceState() ([]byte, error) { return []byte("{}"), nil }
func (k *kernelDevice) RestoreDeviceState([]byte) error  { return nil }
func (k *kernelDevice) RingStates() (map[int]virtio.RingState, error) {
	return k.rings, k.err
}
func (k *kernelDevice) Activate(env virtio.ActivateEnv) error {
	k.restored = append(k.restored, env.Restored)
	k.next = append(k.next, env.Queues[0].NextAvail())
	return nil
}

var _ virtio.KernelRings = (*kernelDevice)(nil)

// TestKernelRingsSaved: a transport saves where the kernel says it is in
// the rings it serves, not what its own Queues say, and a restored device
// is activated there, knowing it is restored; a driver's later set-up is
// not. A kernel that cannot tell, or tells a place no device reaches, or
// leaves a queue out, fails the save.
func TestKernelRingsSaved(t *testing.T) {
	k := &kernelDevice{rings: map[int]virtio.RingState{0: {NextAvail: 7, UsedIdx: 5, UsedAdded: 5, UsedSignalled: 5}}}
	d := virtiotest.New(t, virtio.Modern, k)
	d.Setup(16, 0)
	d.Pause()
	st := d.MustSave()
	var s virtio.State
	if err := json.Unmarshal(st, &s); err != nil {
		t.Fatal(err)
	}
	if r := s.Queues[0].Ring; r == nil || *r != k.rings[0] {
		t.Errorf("queue 0 saved at %+v, want the kernel's %+v", r, k.rings[0])
	}
	if r := s.Queues[1].Ring; r == nil || *r != (virtio.RingState{}) {
		t.Errorf("queue 1 (not the kernel's) saved at %+v", r)
	}
	for _, bad := range []struct {
		rings map[int]virtio.RingState
		err   error
		says  string
	}{
		{nil, errors.New("EBADF"), "EBADF"},
		{map[int]virtio.RingState{}, nil, "queue 0"},
		{map[int]virtio.RingState{0: {NextAvail: 40, UsedIdx: 0, UsedAdded: 0}}, nil, "not one a device reaches"},
	} {
		k.rings, k.err = bad.rings, bad.err
		if _, err := d.Save(); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("kernel saying %v, %v: save %v, want it to say %q", bad.rings, bad.err, err, bad.says)
		}
	}
	d.Close()
	k2 := &kernelDevice{}
	n, err := d.Restore(virtio.Modern, k2, st)
	if err != nil {
		t.Fatal(err)
	}
	n.Write32(virtio.RegStatus, 0)
	n.Setup(16, 0)
	if fmt.Sprint(k2.restored, k2.next) != "[true false] [7 0]" {
		t.Errorf("activations: restored %v, queue 0 starting at %v; want [true false] and [7 0]", k2.restored, k2.next)
	}
}
