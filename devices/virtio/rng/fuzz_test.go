package rng

import (
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// FuzzRNGInterleaved runs hostile drivers' programs against the entropy
// device on either transport: see virtiotest.Interleave. The guest
// controls the rings and the buffers' sizes and directions.
func FuzzRNGInterleaved(f *testing.F) {
	for _, s := range [][]byte{
		{9, 0, 9, 1, 11, 40, 6, 0, 5, 6, 1, 5},
		{9, 1, 1, 0x1c, 3, 0, 0, 0, 1, 0x0e, 0, 0, 0, 0, 5, 1, 6, 1, 5, 8},
		{10, 9, 0, 11, 3, 8, 10, 0, 3, 0, 9, 1, 6, 1, 4},
		{3, 1, 0, 0, 0, 0, 4, 1, 1, 0, 4, 1, 0, 0, 5, 1, 6, 1, 2},
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, ops []byte, legacy bool) {
		r := New(nil, nil)
		t.Cleanup(r.Reset)
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		d := virtiotest.New(t, v, r)
		virtiotest.Interleave(d, ops, virtiotest.Device{
			Request: func(d *virtiotest.Driver, arg byte) {
				d.SelectQueue(0)
				n := uint32(arg)*64 + 1
				segs := []virtiotest.Seg{{GPA: d.Buf(nil, int(n)), N: n, Writable: arg&1 == 0}}
				if arg&4 != 0 {
					segs = append(segs, virtiotest.Seg{GPA: d.Buf(nil, 16), N: 16, Writable: true})
				}
				d.Submit(segs, arg&2 != 0)
			},
			Works: func(d *virtiotest.Driver) {
				d.SelectQueue(0)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 64), N: 64, Writable: true}}, false)
				d.Kick()
				if u := d.Wait(1); u[0].Len != 64 {
					d.T.Fatalf("used %d bytes of 64", u[0].Len)
				}
			},
		})
	})
}
