package vhost

import (
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// ringsDevice runs all its queues through Rings.
type ringsDevice struct {
	rings *Rings
	n     int
}

func (d *ringsDevice) DeviceID() uint32 { return 1 }
func (d *ringsDevice) Features() uint64 {
	return 1<<virtio.FeatureEventIdx | 1<<virtio.FeatureIndirectDesc
}
func (d *ringsDevice) QueueMaxSizes() []uint16 { return make([]uint16, d.n) }
func (d *ringsDevice) FDNotifiedQueues() []int {
	q := make([]int, d.n)
	for i := range q {
		q[i] = i
	}
	return q
}
func (d *ringsDevice) ReadConfig(uint64, []byte)  {}
func (d *ringsDevice) WriteConfig(uint64, []byte) {}
func (d *ringsDevice) Activate(env virtio.ActivateEnv) error {
	return d.rings.Activate(env, env.Features)
}
func (d *ringsDevice) Reset()  { d.rings.Reset() }
func (d *ringsDevice) Pause()  { d.rings.Pause() }
func (d *ringsDevice) Resume() { d.rings.Resume() }

// countingBackend counts attaches and detaches.
type countingBackend struct{ attach, detach atomic.Int32 }

func (b *countingBackend) Attach(*Dev) error { b.attach.Add(1); return nil }
func (b *countingBackend) Detach(*Dev) error { b.detach.Add(1); return nil }

// TestRingsClosedDevice: rings over a device that no longer exists fail
// activation (the device then needs a reset), start nothing, and stop
// cleanly; a second Close does nothing.
func TestRingsClosedDevice(t *testing.T) {
	b := &countingBackend{}
	r, err := NewRings("test", &Dev{path: "/dev/vhost-test"}, []int{0, 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	dev := &ringsDevice{rings: r, n: 2}
	d := virtiotest.New(t, virtio.Modern, withMax(dev, 16))
	goroutines := runtime.NumGoroutine()
	d.Write32(virtio.RegStatus, 0)
	setupNoCheck(d)
	if s := d.Read32(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset == 0 {
		t.Errorf("status %#x: activation over a closed vhost device did not fail", s)
	}
	if !strings.Contains(d.Log(), "closed") {
		t.Errorf("log %q does not say why", d.Log())
	}
	if b.attach.Load() != 0 {
		t.Errorf("the backend was attached")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after Close, %d before", n, goroutines)
	}
}

// maxed gives ringsDevice queues of a size.
type maxed struct {
	*ringsDevice
	max uint16
}

func withMax(d *ringsDevice, max uint16) *maxed { return &maxed{d, max} }

func (m *maxed) QueueMaxSizes() []uint16 {
	s := make([]uint16, m.n)
	for i := range s {
		s[i] = m.max
	}
	return s
}

// setupNoCheck sets queues up as virtiotest.Setup does, without failing
// when the device refuses DRIVER_OK.
func setupNoCheck(d *virtiotest.Driver) {
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	for i := 0; i < 2; i++ {
		base := uint32(virtiotest.RAMBase) + uint32(i)*0x10000
		d.Write32(virtio.RegQueueSel, uint32(i))
		d.Write32(virtio.RegQueueNum, 16)
		d.Write32(virtio.RegQueueDescLow, base)
		d.Write32(virtio.RegQueueDriverLow, base+0x4000)
		d.Write32(virtio.RegQueueDeviceLow, base+0x8000)
		d.Write32(virtio.RegQueueReady, 1)
	}
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
}

// TestRingsKernel sets rings up on the host's real vhost-net (with no
// tap: the backend here only counts), then pauses, resumes, resets, sets
// up again and closes. It needs /dev/vhost-net; the e2e tests run
// vhost-net with a tap and a guest.
func TestRingsKernel(t *testing.T) {
	if _, err := os.Stat("/dev/vhost-net"); os.IsNotExist(err) {
		t.Skip("no /dev/vhost-net on this host")
	}
	dev, err := Open("/dev/vhost-net", "vhost_net")
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := dev.Features()
	if err != nil {
		t.Fatal(err)
	}
	if kernel&(1<<virtio.FeatureVersion1) == 0 {
		t.Fatalf("features %#x lack VERSION_1", kernel)
	}
	b := &countingBackend{}
	r, err := NewRings("test", dev, []int{0, 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := virtiotest.New(t, virtio.Modern, withMax(&ringsDevice{rings: r, n: 2}, 256))
	if d.Mem.HostAddr()%4096 != 0 {
		t.Skip("the test's RAM is not page-aligned")
	}
	for round := 0; round < 2; round++ {
		d.Setup(256, 0)
		if s := d.Read32(virtio.RegStatus); s&virtio.StatusDeviceNeedsReset != 0 {
			t.Fatalf("round %d: status %#x: %s", round, s, d.Log())
		}
		d.Pause()
		d.Resume()
		d.Write32(virtio.RegStatus, 0)
	}
	if a, dt := b.attach.Load(), b.detach.Load(); a != 4 || dt != 4 {
		t.Errorf("%d attaches and %d detaches, want 4 and 4 (per round: activation, pause, resume, reset)", a, dt)
	}
	// A driver error breaks the device: at the kernel's next signal the
	// backend is detached, and a resume does not attach it again.
	d.Setup(256, 0)
	d.Write32(virtio.RegQueueSel, 0)
	d.Write32(virtio.RegQueueNum, 16) // while running: a driver error
	if !d.NeedsReset() {
		t.Fatal("no DEVICE_NEEDS_RESET after a driver error")
	}
	r.calls[0].signal() // as the kernel does for used buffers
	deadline := time.Now().Add(5 * time.Second)
	for b.detach.Load() != 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d.Pause()
	d.Resume()
	if a, dt := b.attach.Load(), b.detach.Load(); a != 5 || dt != 5 {
		t.Errorf("broken device: %d attaches and %d detaches, want 5 and 5", a, dt)
	}
	d.Write32(virtio.RegStatus, 0)
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
}

// TestRingsKernelLegacy: a legacy driver's rings (laid out from QueuePFN,
// the used ring at a page boundary, no VERSION_1) go to the real
// vhost-net too.
func TestRingsKernelLegacy(t *testing.T) {
	if _, err := os.Stat("/dev/vhost-net"); os.IsNotExist(err) {
		t.Skip("no /dev/vhost-net on this host")
	}
	dev, err := Open("/dev/vhost-net", "vhost_net")
	if err != nil {
		t.Fatal(err)
	}
	b := &countingBackend{}
	r, err := NewRings("test", dev, []int{0, 1}, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := virtiotest.New(t, virtio.Legacy, withMax(&ringsDevice{rings: r, n: 2}, 256))
	d.Setup(256, 0)
	if d.NeedsReset() || b.attach.Load() != 1 {
		t.Fatalf("legacy set-up: needs reset %v, %d attaches, log %q", d.NeedsReset(), b.attach.Load(), d.Log())
	}
	d.Write32(virtio.RegStatus, 0)
	if b.detach.Load() != 1 {
		t.Errorf("%d detaches after the reset, want 1", b.detach.Load())
	}
}
