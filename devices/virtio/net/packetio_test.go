package net

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
)

// TestFileIONoAllocs: a frame read or written through the backend costs
// no allocation, as a disk request costs none (the receive and transmit
// loops do this for every frame).
func TestFileIONoAllocs(t *testing.T) {
	n, peer := newSocketNet(t)
	defer n.Close()
	p := n.io.(*fileIO)
	out := frame(1514)
	var iov virtio.IOVecs
	buf := make([]byte, maxFrame)
	got := make([]byte, maxFrame)
	writes := testing.AllocsPerRun(100, func() {
		iov.Reset()
		iov.Add(out[:14])
		iov.Add(out[14:])
		if err := p.WritePacket(&iov); err != nil {
			t.Fatal(err)
		}
		m, err := unix.Read(peer, got)
		if err != nil || !bytes.Equal(got[:m], out) {
			t.Fatalf("the peer read %d bytes (%v), not the frame", m, err)
		}
	})
	reads := testing.AllocsPerRun(100, func() {
		if _, err := unix.Write(peer, out); err != nil {
			t.Fatal(err)
		}
		m, err := p.ReadPacket(buf)
		if err != nil || !bytes.Equal(buf[:m], out) {
			t.Fatalf("read %d bytes (%v), not the frame", m, err)
		}
	})
	if writes != 0 || reads != 0 {
		t.Errorf("%v allocations a written frame, %v a read one; want none", writes, reads)
	}
}
