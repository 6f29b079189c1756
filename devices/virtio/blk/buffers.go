package blk

import "github.com/gokvm/gokvm/devices/virtio"

// The layout of a request in its chain's buffers (virtio 1.2, 5.2.6): the
// 16-byte header and the data to write in the readable buffers, then the
// data read in the writable ones, the last writable byte the status.

// gather copies the start of the buffers' bytes into dst.
func gather(dst []byte, bufs []virtio.Buffer) int { return gatherAt(dst, bufs, 0) }

// gatherAt copies bytes from offset skip of the buffers' concatenation.
func gatherAt(dst []byte, bufs []virtio.Buffer, skip int) int {
	n := 0
	for _, buf := range bufs {
		d := buf.Data
		if skip >= len(d) {
			skip -= len(d)
			continue
		}
		d, skip = d[skip:], 0
		n += copy(dst[n:], d)
		if n == len(dst) {
			break
		}
	}
	return n
}

// scatter copies src into the writable buffers, leaving the final status
// byte alone when keepLast.
func scatter(bufs []virtio.Buffer, src []byte, keepLast bool) int {
	n := 0
	for i, buf := range bufs {
		d := buf.Data
		if keepLast && i == len(bufs)-1 {
			d = d[:len(d)-1]
		}
		n += copy(d, src[n:])
	}
	return n
}

// addAfter adds the readable data after the header.
func addAfter(iov *virtio.IOVecs, bufs []virtio.Buffer, skip int) {
	for _, buf := range bufs {
		d := buf.Data
		if skip >= len(d) {
			skip -= len(d)
			continue
		}
		iov.Add(d[skip:])
		skip = 0
	}
}

// addWritableData adds the writable buffers less the final status byte.
func addWritableData(iov *virtio.IOVecs, bufs []virtio.Buffer) {
	for i, buf := range bufs {
		d := buf.Data
		if i == len(bufs)-1 {
			d = d[:len(d)-1]
		}
		iov.Add(d)
	}
}
