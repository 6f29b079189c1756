package net

import (
	"fmt"
	stdnet "net"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// testTap opens a tap of a name unique to this test process, or skips
// the test where taps cannot be made.
func testTap(t *testing.T, n int) *Tap {
	t.Helper()
	tap, err := OpenTap(fmt.Sprintf("gkst%d_%d", os.Getpid()%100000, n))
	if err != nil {
		t.Skipf("no tap: %v", err)
	}
	t.Cleanup(func() { tap.Close() })
	return tap
}

// tapHeaderSize is the virtio-net header size the tap is set to.
func tapHeaderSize(t *testing.T, tap *Tap) int {
	t.Helper()
	var n int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(tap.fd), unix.TUNGETVNETHDRSZ, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("TUNGETVNETHDRSZ: %v", e)
	}
	return int(n)
}

// fakeVhostNet is vhost-net over tap with k as its kernel.
func fakeVhostNet(t *testing.T, tap *Tap, k *vhost.FakeKernel, mac stdnet.HardwareAddr) *VhostNet {
	t.Helper()
	n := &VhostNet{name: "test-vhost-net", tap: tap, mac: mac, vhostFeatures: kernel61}
	r, err := vhost.NewRings(n.name, k.Dev("/dev/vhost-net"), []int{netRX, netTX}, tapBackend{tap})
	if err != nil {
		t.Fatal(err)
	}
	n.rings = r
	t.Cleanup(func() { r.Close() })
	return n
}

// TestVhostNetStateRestore: vhost-net saved while paused holds where the
// kernel was in its rings; restored onto another tap with a new kernel
// device, the kernel goes on from there with the new tap attached, which
// gets the negotiated header size (a legacy driver without mergeable
// buffers: 10 bytes, where a tap opens with 12). A restore onto a NIC of
// another MAC is refused, naming both.
func TestVhostNetStateRestore(t *testing.T) {
	k := vhost.NewFakeKernel(kernel61)
	v := fakeVhostNet(t, testTap(t, 1), k, fakeNIC)
	d := virtiotest.New(t, virtio.Legacy, v)
	d.Setup(16, 1<<netFMrgRxbuf)
	k.Advance(netTX, 2) // two transmit chains taken; none used yet
	d.Pause()
	st := d.MustSave()
	s, ns := savedNet(t, st)
	if r := s.Queues[netTX].Ring; r == nil || r.NextAvail != 2 || r.UsedIdx != 0 {
		t.Errorf("transmit ring saved at %+v, want the kernel's 2 and RAM's 0", r)
	}
	if ns.Backend != backendVhost || ns.MAC != "52:54:00:09:08:07" || ns.Frame != nil {
		t.Errorf("device state %+v", ns)
	}
	d.Close()

	other := fakeVhostNet(t, testTap(t, 2), vhost.NewFakeKernel(kernel61), stdnet.HardwareAddr{0x52, 0x54, 0, 1, 1, 1})
	if _, err := d.Restore(virtio.Legacy, other, st); err == nil || !strings.Contains(err.Error(), "52:54:00:01:01:01, the saved guest's was 52:54:00:09:08:07") {
		t.Errorf("a restore onto another MAC: %v", err)
	}
	tap3 := testTap(t, 3)
	k3 := vhost.NewFakeKernel(kernel61)
	if tapHeaderSize(t, tap3) != vnetHdrSize {
		t.Fatalf("a new tap's header is %d bytes", tapHeaderSize(t, tap3))
	}
	n, err := d.Restore(virtio.Legacy, fakeVhostNet(t, tap3, k3, fakeNIC), st)
	if err != nil {
		t.Fatalf("restoring: %v", err)
	}
	if k3.Base(netTX) != 2 {
		t.Errorf("the restored kernel's transmit ring starts at %d, want 2", k3.Base(netTX))
	}
	attached := false
	for _, c := range k3.Calls() {
		attached = attached || c.Name == "VHOST_NET_SET_BACKEND" && c.FD == tap3.fd
	}
	if !attached {
		t.Errorf("the new tap was not attached: %v", k3.Calls())
	}
	if h := tapHeaderSize(t, tap3); h != 10 {
		t.Errorf("the restored tap's header is %d bytes, want the negotiated 10", h)
	}
	n.Write32(virtio.RegStatus, 0)
}

// TestVhostNetDeviceState: vhost-net's own state is checked as Net's is,
// and holds no frame.
func TestVhostNetDeviceState(t *testing.T) {
	v := &VhostNet{mac: fakeNIC}
	vs, err := v.SaveDeviceState()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RestoreDeviceState(vs); err != nil {
		t.Errorf("vhost-net's own state refused: %v", err)
	}
	n, _ := newFakeNet(t)
	st, _ := n.SaveDeviceState()
	if err := v.RestoreDeviceState(st); err == nil || !strings.Contains(err.Error(), "vhost-net, the saved guest's was tap") {
		t.Errorf("a userspace device's state onto vhost-net: %v", err)
	}
	withFrame := fmt.Sprintf(`{"MAC":"52:54:00:09:08:07","Backend":"vhost-net","Frame":%q,"HeaderLen":12}`, base64(tagged(1, 10)))
	if err := v.RestoreDeviceState([]byte(withFrame)); err == nil {
		t.Error("vhost-net took a held frame")
	}
}
