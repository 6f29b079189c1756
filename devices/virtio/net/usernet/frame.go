package usernet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"

	"github.com/gokvm/gokvm/devices/virtio"
)

// virtio-net header fields (virtio 1.2, 5.1.6).
const (
	hdrFNeedsCsum = 1 // flags: complete the checksum at csum_start+csum_offset
	gsoNone       = 0
)

var errGSO = errors.New("a segmentation (GSO) frame, which the device never offered")

// gather copies the guest's buffers into b (the guest may change them
// while gokvm reads: a copy is read once), up to a header and a frame.
func gather(b []byte, iov *virtio.IOVecs) []byte {
	for _, s := range iov.Segments() {
		n := int(s.Len)
		if len(b)+n > cap(b) {
			n = cap(b) - len(b)
		}
		b = append(b, unsafe.Slice(s.Base, n)...)
	}
	return b
}

// guestFrame strips the virtio-net header of hdrLen bytes from b and
// completes the checksum the header asks for, returning the Ethernet
// frame. A frame the device would not have offered to take (segmented, or
// larger than the MTU) or whose checksum offsets lie outside it is an error.
func guestFrame(b []byte, hdrLen int) ([]byte, error) {
	if len(b) < hdrLen+14 {
		return nil, fmt.Errorf("a %d-byte frame and header", len(b))
	}
	hdr, frame := b[:hdrLen], b[hdrLen:]
	if hdr[1] != gsoNone {
		return nil, errGSO
	}
	if len(frame) > maxFrame {
		return nil, fmt.Errorf("a %d-byte frame, larger than the %d-byte MTU", len(frame)-14, mtu)
	}
	if hdr[0]&hdrFNeedsCsum != 0 {
		start := int(binary.LittleEndian.Uint16(hdr[6:]))
		off := start + int(binary.LittleEndian.Uint16(hdr[8:]))
		if start >= len(frame) || off+2 > len(frame) {
			return nil, fmt.Errorf("checksum at %d from %d outside a %d-byte frame", off, start, len(frame))
		}
		// The field holds the pseudo-header's sum: the checksum of
		// everything from start, the field included, completes it.
		sum := ^checksum.Checksum(frame[start:], 0)
		if sum == 0 {
			sum = 0xffff // 0 means "no checksum" to UDP; the same sum to TCP
		}
		binary.BigEndian.PutUint16(frame[off:], sum)
	}
	return frame, nil
}
