// Package testimage makes small synthetic kernel images for unit tests: a
// valid header around filler bytes, so loaders and the CLI can be tested
// without a real kernel.
package testimage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
)

// Arm64 returns an arm64 Image of fileSize bytes whose header claims
// textOffset and imageSize (booting.rst layout, little-endian, 4K pages).
func Arm64(fileSize int, textOffset, imageSize uint64) []byte {
	b := make([]byte, max(fileSize, 64))
	binary.LittleEndian.PutUint32(b[0:], 0x14000010) // b #0x40, as real Images start
	binary.LittleEndian.PutUint64(b[8:], textOffset)
	binary.LittleEndian.PutUint64(b[16:], imageSize)
	binary.LittleEndian.PutUint64(b[24:], 1<<1|1<<3) // 4K pages, anywhere
	binary.LittleEndian.PutUint32(b[56:], 0x644d5241)
	for i := 64; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// Zimage returns a 32-bit ARM zImage of fileSize bytes: the magic at 0x24
// and start/end at 0x28/0x2c.
func Zimage(fileSize int) []byte {
	b := make([]byte, max(fileSize, 0x34))
	binary.LittleEndian.PutUint32(b[0x24:], 0x016f2818)
	binary.LittleEndian.PutUint32(b[0x28:], 0)
	binary.LittleEndian.PutUint32(b[0x2c:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[0x30:], 0x04030201)
	return b
}
