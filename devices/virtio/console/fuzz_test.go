package console

import (
	"context"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// FuzzConsoleInterleaved runs hostile drivers' programs against the
// console on either transport while host input arrives: see
// virtiotest.Interleave. Its receive and transmit loops run on goroutines
// of their own (Confine).
func FuzzConsoleInterleaved(f *testing.F) {
	for _, s := range [][]byte{
		{9, 0, 9, 1, 11, 40, 6, 0, 5, 6, 1, 5},
		{9, 1, 1, 0x1c, 3, 0, 0, 0, 1, 0x0e, 0, 0, 0, 0, 5, 1, 6, 1, 5, 8},
		{9, 0, 1, 0x0c, 1, 0, 0, 0, 1, 0x10, 0x10, 0, 0, 0, 11, 9, 6, 0, 3},
		{10, 9, 0, 11, 3, 8, 10, 0, 3, 0, 9, 1, 6, 1, 4},
		{3, 1, 0, 0, 0, 0, 4, 1, 1, 0, 4, 1, 0, 0, 5, 1, 6, 1, 2},
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, ops []byte, legacy bool) {
		c := New(nil, nil)
		t.Cleanup(func() { c.Close() })
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		d := virtiotest.New(t, v, c)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		virtiotest.Interleave(d, ops, virtiotest.Device{
			Request: func(d *virtiotest.Driver, arg byte) {
				n := uint32(arg)*16 + 1
				if arg&1 == 0 {
					d.SelectQueue(receiveq)
					d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, int(n)), N: n, Writable: arg&4 == 0}}, arg&2 != 0)
					return
				}
				d.SelectQueue(transmitq)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, int(n)), N: n, Writable: arg&4 != 0}}, arg&2 != 0)
			},
			// Input from the host: what fits in the buffer.
			Backend: func(arg byte) { _ = c.in.Feed(done, make([]byte, int(arg)*32)) },
			Works: func(d *virtiotest.Driver) {
				d.SelectQueue(transmitq)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf([]byte("ok"), 0), N: 2}}, false)
				d.Kick()
				d.Wait(1)
			},
			Confine: true,
		})
	})
}
