package tinyguest

import "encoding/binary"

// HeaderSize is the arm64 Image header's size: code starts this far
// above the Image's load address, which is also its entry point.
const HeaderSize = 64

// Image header fields (Documentation/arch/arm64/booting.rst).
const (
	imageMagic     = 0x644d5241 // "ARM\x64"
	flagPage4K     = 1 << 1     // bits 1-2: page size 4K
	flagAnywhere   = 1 << 3     // the kernel may sit anywhere in RAM
	branchOverHead = 0x14000000 | HeaderSize/4
)

// Image wraps code into an arm64 Image: code0 branches over the header
// to the code, text_offset is 0 (the code sits at the 2 MiB aligned start
// of RAM), image_size is the whole file, and the flags say little-endian,
// 4K pages, placeable anywhere.
func Image(code []byte) []byte {
	b := make([]byte, HeaderSize+len(code))
	binary.LittleEndian.PutUint32(b[0:], branchOverHead)
	binary.LittleEndian.PutUint64(b[8:], 0)               // text_offset
	binary.LittleEndian.PutUint64(b[16:], uint64(len(b))) // image_size
	binary.LittleEndian.PutUint64(b[24:], flagPage4K|flagAnywhere)
	binary.LittleEndian.PutUint32(b[56:], imageMagic)
	copy(b[HeaderSize:], code)
	return b
}
