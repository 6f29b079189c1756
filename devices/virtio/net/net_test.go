package net

import (
	"bytes"
	"encoding/binary"
	stdnet "net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// newNetDriver builds a virtio-net device whose backend is one end of a
// datagram socketpair; the test holds the other end, "the network".
func newNetDriver(t testing.TB, drop uint64) (*virtiotest.Driver, *Net, int) {
	return newNetDriverVersion(t, virtio.Modern, drop)
}

func newNetDriverVersion(t testing.TB, version virtio.TransportVersion, drop uint64) (*virtiotest.Driver, *Net, int) {
	t.Helper()
	n, peer := newSocketNet(t)
	d := virtiotest.New(t, version, n)
	t.Cleanup(func() { d.Close(); n.Close() })
	d.Setup(16, drop)
	return d, n, peer
}

// newSocketNet makes a virtio-net device over one end of a datagram
// socketpair, and returns the other end; the test closes it.
func newSocketNet(t testing.TB) (*Net, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	}
	f := os.NewFile(uintptr(fds[0]), "net-backend")
	io, err := newFileIO(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	return New("test-net", io, stdnet.HardwareAddr{0x52, 0x54, 0, 1, 2, 3}, nil), fds[1]
}

// hdr makes a virtio_net_hdr_v1 with num_buffers 0.
func netHdr(flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOffset uint16) []byte {
	h := make([]byte, vnetHdrSize)
	h[0], h[1] = flags, gsoType
	binary.LittleEndian.PutUint16(h[2:], hdrLen)
	binary.LittleEndian.PutUint16(h[4:], gsoSize)
	binary.LittleEndian.PutUint16(h[6:], csumStart)
	binary.LittleEndian.PutUint16(h[8:], csumOffset)
	return h
}

func frame(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// recvNet reads one datagram from the test's end.
func recvNet(t *testing.T, fd int) []byte {
	t.Helper()
	buf := make([]byte, 1<<17)
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, err := unix.Read(fd, buf)
		if err == nil {
			return buf[:n]
		}
		if err != unix.EAGAIN || time.Now().After(deadline) {
			t.Fatalf("nothing from the device: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNetTransmitPassesHeaderAndFrame(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	d.SelectQueue(netTX)
	h := netHdr(1, 1, 54, 1448, 34, 16) // NEEDS_CSUM, GSO TCPv4
	body := frame(3000)
	// Header and frame in separate buffers, as Linux sends them.
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(h, 0), N: vnetHdrSize}, {GPA: d.Buf(body, 0), N: 3000}}, false)
	d.Kick()
	got := recvNet(t, peer)
	if !bytes.Equal(got, append(h, body...)) {
		t.Errorf("the backend got %d bytes, not the guest's header and frame unchanged", len(got))
	}
	d.Wait(1)
	if n.Stats.TxPackets.Load() != 1 {
		t.Errorf("tx packets %d", n.Stats.TxPackets.Load())
	}
}

func TestNetTransmitDropsMalformed(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	d.SelectQueue(netTX)
	// Too short for header and Ethernet header; a device-writable
	// buffer; oversized.
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(make([]byte, 8), 0), N: 8}}, false)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(netHdr(0, 0, 0, 0, 0, 0), 0), N: vnetHdrSize}, {GPA: d.Buf(frame(60), 0), N: 60, Writable: true}}, false)
	d.AlignNext(4096, 0)
	big := d.Buf(nil, maxFrame+100)
	d.Submit([]virtiotest.Seg{{GPA: big, N: maxFrame + 100}}, false)
	// Then a good one: the device carries on.
	good := append(netHdr(0, 0, 0, 0, 0, 0), frame(64)...)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(good, 0), N: uint32(len(good))}}, false)
	d.Kick()
	if got := recvNet(t, peer); !bytes.Equal(got, good) {
		t.Errorf("the good frame after bad ones did not come through")
	}
	d.Wait(4)
	if n.Stats.TxDropped.Load() != 3 || n.Stats.TxPackets.Load() != 1 {
		t.Errorf("dropped %d sent %d, want 3 and 1", n.Stats.TxDropped.Load(), n.Stats.TxPackets.Load())
	}
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0 {
		t.Errorf("malformed frames broke the device")
	}
}

// postRX offers the device n receive buffers of size bytes each.
func postRX(d *virtiotest.Driver, n, size int) []uint64 {
	d.SelectQueue(netRX)
	var gpas []uint64
	for i := 0; i < n; i++ {
		g := d.Buf(nil, size)
		gpas = append(gpas, g)
		d.Submit([]virtiotest.Seg{{GPA: g, N: uint32(size), Writable: true}}, false)
	}
	d.Kick()
	return gpas
}

func TestNetReceiveMergeable(t *testing.T) {
	d, n, peer := newNetDriver(t, 0)
	bufs := postRX(d, 8, 1500)
	pkt := append(netHdr(0, 0, 0, 0, 0, 0), frame(4000)...) // needs 3 buffers
	if _, err := unix.Write(peer, pkt); err != nil {
		t.Fatal(err)
	}
	used := d.Wait(3)
	var got []byte
	for i, u := range used {
		b := make([]byte, u.Len)
		d.Mem.Read(bufs[i], b)
		got = append(got, b...)
	}
	if nb := binary.LittleEndian.Uint16(got[10:]); nb != 3 {
		t.Errorf("num_buffers %d, want 3", nb)
	}
	if !bytes.Equal(got[vnetHdrSize:], pkt[vnetHdrSize:]) || !bytes.Equal(got[:10], pkt[:10]) {
		t.Errorf("the frame spread over buffers does not reassemble")
	}
	if n.Stats.RxPackets.Load() != 1 {
		t.Errorf("rx packets %d", n.Stats.RxPackets.Load())
	}
}

func TestNetReceiveWithoutMergeable(t *testing.T) {
	d, n, peer := newNetDriver(t, 1<<netFMrgRxbuf)
	first := postRX(d, 1, 1000)
	postRX(d, 1, 9000)
	// Too big for the first buffer: dropped, and the buffer stays for the
	// next frame that fits.
	unix.Write(peer, append(netHdr(0, 0, 0, 0, 0, 0), frame(2000)...))
	small := append(netHdr(0, 0, 0, 0, 0, 0), frame(500)...)
	unix.Write(peer, small)
	used := d.Wait(1)
	if used[0].Head != 0 || int(used[0].Len) != len(small) {
		t.Errorf("used %v, want the first buffer holding %d bytes", used, len(small))
	}
	deadline := time.Now().Add(time.Second)
	for n.Stats.RxDropped.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n.Stats.RxDropped.Load() != 1 {
		t.Errorf("rx dropped %d, want 1", n.Stats.RxDropped.Load())
	}
	// VERSION_1 without mergeable buffers: num_buffers is 1.
	nb := make([]byte, 2)
	d.Mem.Read(first[0]+10, nb)
	if binary.LittleEndian.Uint16(nb) != 1 {
		t.Errorf("num_buffers %d, want 1", binary.LittleEndian.Uint16(nb))
	}
}

func TestNetConfigAndOffloads(t *testing.T) {
	d, _, _ := newNetDriver(t, 0)
	mac := make([]byte, 6)
	for i := range mac {
		b := []byte{0}
		d.Dev.ReadMMIO(virtio.RegConfig+uint64(i), b)
		mac[i] = b[0]
	}
	if stdnet.HardwareAddr(mac).String() != "52:54:00:01:02:03" {
		t.Errorf("config MAC %s", stdnet.HardwareAddr(mac))
	}
	if st := d.Read32(virtio.RegConfig+4) >> 16; st&netSLinkUp == 0 {
		t.Errorf("link not up in config status")
	}
	for _, tc := range []struct {
		feat uint64
		want uint
	}{
		{0, 0},
		{1 << netFGuestTSO4, 0}, // TSO without checksum offload is meaningless
		{1 << netFGuestCsum, tunFCsum},
		{1<<netFGuestCsum | 1<<netFGuestTSO4 | 1<<netFGuestTSO6, tunFCsum | tunFTSO4 | tunFTSO6},
		{1<<netFGuestCsum | 1<<netFGuestTSO4 | 1<<netFGuestECN, tunFCsum | tunFTSO4 | tunFTSOECN},
	} {
		if got := OffloadFlags(tc.feat); got != tc.want {
			t.Errorf("OffloadFlags(%#x) = %#x, want %#x", tc.feat, got, tc.want)
		}
	}
}

// FuzzNetTransmit sends arbitrary chains through the TX path: whatever the
// guest puts there is sent or dropped, never a crash.
func FuzzNetTransmit(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0}, uint16(100), uint8(2), false)
	f.Add([]byte{}, uint16(0), uint8(1), true)
	f.Fuzz(func(t *testing.T, hdr []byte, bodyLen uint16, nbufs uint8, writable bool) {
		d, n, peer := newNetDriver(t, 0)
		d.SelectQueue(netTX)
		segs := []virtiotest.Seg{{GPA: d.Buf(hdr, 0), N: uint32(len(hdr))}}
		for i := 0; i < int(nbufs%8); i++ {
			segs = append(segs, virtiotest.Seg{GPA: d.Buf(frame(int(bodyLen)), 0), N: uint32(bodyLen), Writable: writable && i == 0})
		}
		d.Submit(segs, nbufs&0x80 != 0)
		d.Kick()
		d.Wait(1)
		if n.Stats.TxPackets.Load()+n.Stats.TxDropped.Load() != 1 {
			t.Fatalf("a frame was neither sent nor dropped")
		}
		if n.Stats.TxPackets.Load() == 1 {
			recvNet(t, peer)
		}
	})
}

// A legacy driver without mergeable buffers uses the 10-byte header (no
// num_buffers): frames go out and come in with exactly that.
func TestNetLegacyTenByteHeader(t *testing.T) {
	d, n, peer := newNetDriverVersion(t, virtio.Legacy, 1<<netFMrgRxbuf)
	if n.hdrLen != 10 {
		t.Fatalf("header length %d, want 10", n.hdrLen)
	}
	d.SelectQueue(netTX)
	out := append(make([]byte, 10), frame(100)...)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
	d.Kick()
	if got := recvNet(t, peer); !bytes.Equal(got, out) {
		t.Errorf("sent %d bytes, backend got %d", len(out), len(got))
	}
	bufs := postRX(d, 1, 2000)
	in := append(make([]byte, 10), frame(300)...)
	unix.Write(peer, in)
	used := d.Wait(1)
	got := make([]byte, used[0].Len)
	d.Mem.Read(bufs[0], got)
	if !bytes.Equal(got, in) {
		t.Errorf("received %d bytes, want the %d-byte frame with its 10-byte header", len(got), len(in))
	}
}
