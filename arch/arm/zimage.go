// Package arm boots 32-bit ARM (AArch32) guest kernels, zImages, on the
// mach-virt board of package arm64: on arm64 hosts whose CPUs run AArch32
// at EL1, and on 32-bit ARM hosts (KVM existed there up to Linux 5.6).
// What differs from an AArch64 guest lives here: the zImage loader, lowmem
// placement, the 32-bit boot protocol's registers, the register ids of a
// 32-bit host, and the capability check.
package arm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// zImage header fields (arch/arm/boot/compressed/head.S).
const (
	zMagicOffset = 0x24
	zStartOffset = 0x28
	zEndOffset   = 0x2c
	zEndianOff   = 0x30
	zMagic       = 0x016f2818
	zEndianLE    = 0x04030201
	zEndianBE    = 0x01020304
	zHeaderEnd   = 0x34

	// An arm64 Image's "ARM\x64" magic ends at byte 60.
	arm64ImageMagic    = 0x644d5241
	arm64ImageMagicEnd = 60

	// MaxZImageSize bounds a zImage: 32-bit kernels are a few MiB, and
	// room for five times the zImage is reserved to decompress it.
	MaxZImageSize = 128 << 20
)

// ErrNotZImage is wrapped by every "this is not a bootable zImage".
var ErrNotZImage = errors.New("not a 32-bit ARM zImage")

// ZImage is a parsed zImage.
type ZImage struct {
	Data []byte
	// Start and End are the header's link-time addresses; End-Start is
	// the image's length.
	Start, End uint32
}

// ParseZImage checks a zImage's header and length.
func ParseZImage(b []byte) (*ZImage, error) {
	if len(b) < zHeaderEnd-4 {
		return nil, fmt.Errorf("%w: the file is %d bytes, too short for the zImage header (truncated?)", ErrNotZImage, len(b))
	}
	if m := binary.LittleEndian.Uint32(b[zMagicOffset:]); m != zMagic {
		if len(b) >= arm64ImageMagicEnd && binary.LittleEndian.Uint32(b[arm64ImageMagicEnd-4:]) == arm64ImageMagic {
			return nil, fmt.Errorf("%w: found an arm64 Image; boot it without --aarch32", ErrNotZImage)
		}
		if binary.BigEndian.Uint32(b[zMagicOffset:]) == zMagic {
			return nil, fmt.Errorf("%w: found a big-endian zImage; gokvm boots little-endian guests", ErrNotZImage)
		}
		return nil, fmt.Errorf("%w: no zImage magic %#x at offset %#x (found %#x)", ErrNotZImage, zMagic, zMagicOffset, m)
	}
	z := &ZImage{
		Data:  b,
		Start: binary.LittleEndian.Uint32(b[zStartOffset:]),
		End:   binary.LittleEndian.Uint32(b[zEndOffset:]),
	}
	if len(b) >= zHeaderEnd && binary.LittleEndian.Uint32(b[zEndianOff:]) == zEndianBE {
		return nil, fmt.Errorf("%w: a big-endian kernel; gokvm boots little-endian guests", ErrNotZImage)
	}
	if z.End <= z.Start {
		return nil, fmt.Errorf("%w: the header's end %#x is not after its start %#x", ErrNotZImage, z.End, z.Start)
	}
	if size := uint64(z.End - z.Start); size > MaxZImageSize {
		return nil, fmt.Errorf("%w: the header's size %#x (end %#x - start %#x) is absurd for a 32-bit kernel (at most %d MiB)", ErrNotZImage, size, z.End, z.Start, MaxZImageSize>>20)
	} else if size > uint64(len(b)) {
		return nil, fmt.Errorf("%w: the zImage is truncated: its header says %d bytes, the file has %d", ErrNotZImage, size, len(b))
	}
	if len(b) > MaxZImageSize {
		return nil, fmt.Errorf("%w: the file is %d MiB, too large for a 32-bit kernel (at most %d MiB)", ErrNotZImage, len(b)>>20, MaxZImageSize>>20)
	}
	return z, nil
}

// isFlat reports whether kvmtool would boot b as a flat binary: it has
// no zImage magic, in either byte order, and is not an arm64 Image
// (which ParseZImage refuses, saying to boot it without --aarch32). An
// empty file is nothing to boot.
func isFlat(b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case len(b) >= zMagicOffset+4 && (binary.LittleEndian.Uint32(b[zMagicOffset:]) == zMagic || binary.BigEndian.Uint32(b[zMagicOffset:]) == zMagic):
		return false
	case len(b) >= arm64ImageMagicEnd && binary.LittleEndian.Uint32(b[arm64ImageMagicEnd-4:]) == arm64ImageMagic:
		return false
	}
	return true
}
