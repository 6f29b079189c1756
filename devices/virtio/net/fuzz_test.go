package net

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// FuzzNetInterleaved runs hostile drivers' programs against a network
// device on either transport, its receive and transmit loops running and
// frames arriving: see virtiotest.Interleave. It runs under the race
// detector in the fuzz step (tools/fuzz.sh).
func FuzzNetInterleaved(f *testing.F) {
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
		n, peer := newSocketNet(t)
		t.Cleanup(func() { n.Close() })
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		d := virtiotest.New(t, v, n)
		virtiotest.Interleave(d, ops, virtiotest.Device{
			Request: func(d *virtiotest.Driver, arg byte) {
				if arg&1 == 0 {
					d.SelectQueue(netRX)
					d.Submit([]virtiotest.Seg{{GPA: d.Buf(nil, 2048), N: 2048, Writable: true}}, arg&2 != 0)
					return
				}
				d.SelectQueue(netTX)
				out := append(netHdr(0, 0, 0, 0, 0, 0), frame(int(arg))...)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, arg&2 != 0)
			},
			// A frame from the network: a zero header and frame's
			// bytes, which as descriptors point nowhere in RAM.
			Backend: func(arg byte) {
				unix.Write(peer, append(netHdr(0, 0, 0, 0, 0, 0), frame(int(arg)*16)...))
			},
			Works: func(d *virtiotest.Driver) {
				d.SelectQueue(netTX)
				out := append(netHdr(0, 0, 0, 0, 0, 0), frame(100)...)
				d.Submit([]virtiotest.Seg{{GPA: d.Buf(out, 0), N: uint32(len(out))}}, false)
				d.Kick()
				d.Wait(1)
			},
			Confine: true,
		})
	})
}
