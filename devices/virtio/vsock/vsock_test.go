package vsock

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// A vhost-vsock of Linux 6.1: VHOST_FEATURES, ACCESS_PLATFORM, SEQPACKET.
const kernel61 = 1<<24 | 1<<28 | 1<<29 | 1<<26 | 1<<27 | 1<<32 | 1<<33 | 1<<1

// detached is a Vsock whose vhost device is closed: everything but
// activation works without the kernel.
func detached(t *testing.T, cid uint64) *Vsock {
	r, err := vhost.NewRings("test", &vhost.Dev{}, []int{queueRX, queueTX}, running{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &Vsock{name: "test", cid: cid, rings: r, kernel: kernel61}
}

// TestConfigSpace: the driver reads the guest's CID as le64 at offset 0,
// at any width, through the transport; beyond it reads zero, and writes
// change nothing.
func TestConfigSpace(t *testing.T) {
	const cid = 0x1_2345_6789
	d := virtiotest.New(t, virtio.Modern, detached(t, cid))
	var want [16]byte
	binary.LittleEndian.PutUint64(want[:], cid)
	d.Dev.WriteMMIO(virtio.RegConfig, []byte{9, 9, 9, 9, 9, 9, 9, 9})
	for off := uint64(0); off < 16; off++ {
		for _, width := range []uint64{1, 2, 4, 8} {
			got := make([]byte, width)
			d.Dev.ReadMMIO(virtio.RegConfig+off, got)
			exp := make([]byte, width)
			if off < 16 {
				copy(exp, want[off:])
			}
			if string(got) != string(exp) {
				t.Errorf("config offset %d width %d: %x, want %x", off, width, got, exp)
			}
		}
	}
	if id := d.Read32(virtio.RegDeviceID); id != DeviceID {
		t.Errorf("device ID %d, want %d", id, DeviceID)
	}
	for q, want := range []uint32{queueSize, queueSize, queueSize, 0} {
		d.Write32(virtio.RegQueueSel, uint32(q))
		if got := d.Read32(virtio.RegQueueNumMax); got != want {
			t.Errorf("queue %d: QueueNumMax %d, want %d", q, got, want)
		}
	}
}

// TestFeatures: the ring features and SEQPACKET, only as far as the
// kernel has them.
func TestFeatures(t *testing.T) {
	if got, want := offered(kernel61), uint64(1<<virtio.FeatureIndirectDesc|1<<virtio.FeatureEventIdx|1<<featureSeqpacket); got != want {
		t.Errorf("offered %#x with Linux 6.1, want %#x", got, want)
	}
	if got := offered(1 << virtio.FeatureVersion1); got != 0 {
		t.Errorf("offered %#x by a kernel with none of them", got)
	}
}

// TestCIDErrors: a CID in use is a configuration error naming it.
func TestCIDErrors(t *testing.T) {
	err := cidError("vsock", 42, unix.EADDRINUSE)
	if !vmm.IsConfigError(err) || !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), "CID 42 is in use") {
		t.Errorf("EADDRINUSE: %v", err)
	}
	if err := cidError("vsock", 42, unix.EINVAL); !vmm.IsConfigError(err) || !strings.Contains(err.Error(), "42") {
		t.Errorf("EINVAL: %v", err)
	}
	if err := cidError("vsock", 42, unix.ENOMEM); vmm.IsConfigError(err) {
		t.Errorf("ENOMEM is the host's failure, not the user's: %v", err)
	}
}

// TestActivationWithoutKernel: with no vhost device behind it the driver
// sees DEVICE_NEEDS_RESET, gokvm logs why, and a reset and Close are
// clean.
func TestActivationWithoutKernel(t *testing.T) {
	v := detached(t, 3)
	d := virtiotest.New(t, virtio.Modern, v)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	d.Write32(virtio.RegDriverFeaturesSel, 1)
	d.Write32(virtio.RegDriverFeatures, 1)
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	for q := 0; q < 3; q++ {
		base := uint32(virtiotest.RAMBase) + uint32(q)*0x10000
		d.Write32(virtio.RegQueueSel, uint32(q))
		d.Write32(virtio.RegQueueNum, 64)
		d.Write32(virtio.RegQueueDescLow, base)
		d.Write32(virtio.RegQueueDriverLow, base+0x4000)
		d.Write32(virtio.RegQueueDeviceLow, base+0x8000)
		d.Write32(virtio.RegQueueReady, 1)
	}
	d.Write32(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	if !d.NeedsReset() || !strings.Contains(d.Log(), "closed") {
		t.Errorf("needs reset %v, log %q", d.NeedsReset(), d.Log())
	}
	d.Write32(virtio.RegStatus, 0)
	if err := v.Close(); err != nil {
		t.Error(err)
	}
}

// testCID is a CID unlikely to be in use on a test host.
func testCID() uint64 { return 0x7000_0000 + uint64(os.Getpid()) }

func needKernel(t *testing.T) {
	if _, err := os.Stat(VhostVsockDevice); os.IsNotExist(err) {
		t.Skip("no " + VhostVsockDevice + " on this host")
	}
}

// TestCIDInUse: a second device cannot claim a CID the first holds, and
// the error names it; once the first closes, the CID is free.
func TestCIDInUse(t *testing.T) {
	needKernel(t)
	a, err := New("a", testCID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New("b", testCID(), nil)
	if err == nil || !vmm.IsConfigError(err) || !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("second device with the same CID: %v", err)
	}
	a.Close()
	b, err := New("b", testCID(), nil)
	if err != nil {
		t.Fatalf("CID not freed by Close: %v", err)
	}
	b.Close()
}

// TestHostileEventQueue: the event queue is the driver's: whatever it
// puts there (malformed chains included) is never used, and the device
// keeps running; pause, resume and reset stop and start vhost-vsock.
func TestHostileEventQueue(t *testing.T) {
	needKernel(t)
	v, err := New("test", testCID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	d := virtiotest.New(t, virtio.Modern, v)
	if d.Mem.HostAddr()%4096 != 0 {
		t.Skip("the test's RAM is not page-aligned")
	}
	for _, bad := range virtiotest.BadChains() {
		d.Setup(64, bad.Drop)
		d.SelectQueue(queueEvent)
		bad.Make(d)
		d.Kick()
		time.Sleep(10 * time.Millisecond)
		if d.NeedsReset() || d.UsedIdx() != 0 || len(d.Faults()) != 0 {
			t.Errorf("%s: needs reset %v, used %d, faults %v, log %q", bad.Name, d.NeedsReset(), d.UsedIdx(), d.Faults(), d.Log())
		}
		d.Pause()
		d.Resume()
	}
	d.Write32(virtio.RegStatus, 0)
}
