package rng

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

func newDriver(t *testing.T, v virtio.TransportVersion, src Source) (*virtiotest.Driver, *RNG) {
	r := New(src, nil)
	d := virtiotest.New(t, v, r)
	t.Cleanup(r.Reset)
	d.Setup(16, 0)
	return d, r
}

func readBuf(t *testing.T, d *virtiotest.Driver, gpa uint64, n int) []byte {
	b := make([]byte, n)
	if err := d.Mem.Read(gpa, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdentity(t *testing.T) {
	d, _ := newDriver(t, virtio.Modern, nil)
	if id := d.Read32(virtio.RegDeviceID); id != 4 {
		t.Errorf("device id %d, want 4", id)
	}
}

// The guest's buffers come back full of the host's random bytes, on
// either transport, direct or indirect.
func TestRandomBytes(t *testing.T) {
	for _, v := range []virtio.TransportVersion{virtio.Modern, virtio.Legacy} {
		for _, indirect := range []bool{false, true} {
			d, _ := newDriver(t, v, nil)
			a, b := d.Buf(nil, 4000), d.Buf(nil, 96)
			d.Submit([]virtiotest.Seg{{GPA: a, N: 4000, Writable: true}, {GPA: b, N: 96, Writable: true}}, indirect)
			d.Kick()
			if u := d.Wait(1); u[0].Len != 4096 {
				t.Errorf("v%d indirect %v: used %d bytes, want 4096", v, indirect, u[0].Len)
			}
			got := append(readBuf(t, d, a, 4000), readBuf(t, d, b, 96)...)
			if bytes.Count(got, []byte{0}) > 100 {
				t.Errorf("v%d: %d of 4096 bytes are zero", v, bytes.Count(got, []byte{0}))
			}
		}
	}
}

// Readable buffers are the driver's: they stay as they were. A chain with
// no writable buffer is returned with 0 bytes used, and the device goes
// on.
func TestReadableBuffers(t *testing.T) {
	d, _ := newDriver(t, virtio.Modern, nil)
	pattern := bytes.Repeat([]byte{0x5a}, 64)
	ro := d.Buf(pattern, 0)
	d.Submit([]virtiotest.Seg{{GPA: ro, N: 64}}, false)
	w := d.Buf(nil, 32)
	d.Submit([]virtiotest.Seg{{GPA: ro, N: 64}, {GPA: w, N: 32, Writable: true}}, false)
	d.Kick()
	u := d.Wait(2)
	if u[0].Len != 0 || u[1].Len != 32 {
		t.Errorf("used %d and %d bytes, want 0 and 32", u[0].Len, u[1].Len)
	}
	if !bytes.Equal(readBuf(t, d, ro, 64), pattern) {
		t.Error("a readable buffer was written")
	}
	if d.NeedsReset() {
		t.Error("a request without writable buffers broke the device")
	}
}

// A request gets at most MaxPerRequest bytes however large its buffers.
func TestRequestBound(t *testing.T) {
	d, _ := newDriver(t, virtio.Modern, nil)
	big := d.Buf(nil, 1<<20)
	d.Submit([]virtiotest.Seg{{GPA: big, N: 1 << 20, Writable: true}, {GPA: big, N: 1 << 20, Writable: true}}, true)
	d.Kick()
	if u := d.Wait(1); u[0].Len != MaxPerRequest {
		t.Errorf("used %d bytes, want %d", u[0].Len, MaxPerRequest)
	}
	if tail := readBuf(t, d, big+MaxPerRequest, 4096); !bytes.Equal(tail, make([]byte, 4096)) {
		t.Error("bytes written past the request's bound")
	}
}

// countingSource counts bytes and can be slowed down.
type countingSource struct {
	bytes atomic.Int64
	calls atomic.Int64
	delay time.Duration
}

func (c *countingSource) read(p []byte) (int, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	for i := range p {
		p[i] = 0xa5
	}
	c.bytes.Add(int64(len(p)))
	return len(p), nil
}

// A driver asking for more than MaxPerWake at once is served in rounds,
// with the device resting between them: a guest cannot keep a host CPU
// filling buffers.
func TestWakeBound(t *testing.T) {
	var src countingSource
	d, _ := newDriver(t, virtio.Modern, src.read)
	buf := d.Buf(nil, MaxPerRequest)
	const n = 16 // 1 MiB: four rounds
	for range n {
		d.Submit([]virtiotest.Seg{{GPA: buf, N: MaxPerRequest, Writable: true}}, false)
	}
	start := time.Now()
	d.Kick()
	for _, u := range d.Wait(n) {
		if u.Len != MaxPerRequest {
			t.Fatalf("used %d bytes", u.Len)
		}
	}
	rounds := n * MaxPerRequest / MaxPerWake
	if el := time.Since(start); el < time.Duration(rounds-1)*Rest {
		t.Errorf("%d bytes in %v: no rest between rounds of %d", n*MaxPerRequest, el, MaxPerWake)
	}
}

// A source that fails gives the request what it had; the device logs
// and goes on.
func TestSourceFails(t *testing.T) {
	calls := 0
	src := func(p []byte) (int, error) {
		calls++
		if calls > 1 {
			return 0, errTest
		}
		return copy(p, "abc"), nil
	}
	d, _ := newDriver(t, virtio.Modern, src)
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 16), N: 16, Writable: true}}, false)
	d.Kick()
	if u := d.Wait(1); u[0].Len != 3 {
		t.Errorf("used %d bytes, want the 3 read", u[0].Len)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("no entropy")

func TestBadChainsNeedReset(t *testing.T) {
	for _, tc := range virtiotest.BadChains() {
		t.Run(tc.Name, func(t *testing.T) {
			var src countingSource
			d, _ := newDriver(t, virtio.Modern, src.read)
			d.Setup(16, tc.Drop)
			tc.Make(d)
			d.Kick()
			d.WaitNeedsReset()
			if log := d.Log(); !strings.HasPrefix(log, "test: request queue: malformed descriptor chain") {
				t.Errorf("logged %q", log)
			}
			if src.bytes.Load() != 0 {
				t.Error("a bad chain got random bytes")
			}
			d.Setup(16, tc.Drop)
			buf := d.Buf(nil, 8)
			d.Submit([]virtiotest.Seg{{GPA: buf, N: 8, Writable: true}}, false)
			d.Kick()
			if u := d.Wait(1); u[0].Len != 8 {
				t.Errorf("after a reset: used %d bytes", u[0].Len)
			}
		})
	}
}

// Resets from several vcpus and a close while the device is busy with a
// slow source return promptly, and the device works after a fresh setup.
func TestResetDuringIO(t *testing.T) {
	src := &countingSource{delay: time.Millisecond}
	r := New(src.read, nil)
	d := virtiotest.New(t, virtio.Modern, r)
	d.Setup(virtio.MaxQueueSize, 0)
	buf := d.Buf(nil, 4096)
	for range virtio.MaxQueueSize {
		d.Submit([]virtiotest.Seg{{GPA: buf, N: 4096, Writable: true}}, false)
	}
	d.Kick()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	reset := func() { d.Write32(virtio.RegStatus, 0) }
	virtiotest.Concurrently(t, 2*time.Second, reset, reset, r.Reset, r.Reset)
	calls := src.calls.Load()
	time.Sleep(20 * time.Millisecond)
	if src.calls.Load() != calls {
		t.Error("the device served requests after a reset")
	}
	d.Setup(16, 0)
	d.FreeBufs()
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 8), N: 8, Writable: true}}, false)
	d.Kick()
	d.Wait(1)
	if !virtiotest.ReturnsWithin(2*time.Second, func() { d.Close(); r.Reset() }) {
		t.Fatal("close hangs")
	}
	if f := d.Faults(); len(f) > 0 {
		t.Errorf("faults: %v", f)
	}
}

func TestPause(t *testing.T) {
	var src countingSource
	d, _ := newDriver(t, virtio.Modern, src.read)
	d.Pause()
	d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 8), N: 8, Writable: true}}, false)
	d.Kick()
	if _, ok := d.TryWait(1, 50*time.Millisecond); ok {
		t.Fatal("served while paused")
	}
	d.Resume()
	d.Wait(1)
}
