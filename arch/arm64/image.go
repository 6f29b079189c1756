package arm64

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The arm64 Image header (Documentation/arm64/booting.rst).
const (
	imageHeaderSize   = 64
	imageMagicOffset  = 56
	imageMagic        = 0x644d5241 // "ARM\x64", little-endian
	imageFlagBE       = 1 << 0
	imageFlagAnywhere = 1 << 3
	// legacyTextOffset is assumed when image_size is 0 (pre-3.17 kernels).
	legacyTextOffset = 0x80000
	// maxDecompressed bounds a gzip Image so a hostile file cannot exhaust
	// host memory.
	maxDecompressed = 1 << 30
	// MaxImageSize bounds the header's image_size (the kernel with its
	// BSS): real kernels take tens of MiB, and a larger value is a corrupt
	// or hostile header, refused before any address is computed from it.
	MaxImageSize = 1 << 30
)

// ErrNotImage is wrapped by every "this is not a bootable arm64 Image".
var ErrNotImage = errors.New("not an arm64 Image")

// Image is a parsed arm64 kernel Image.
type Image struct {
	// Data is the Image as loaded into RAM (decompressed).
	Data []byte
	// TextOffset is how far above a 2 MiB aligned base the Image goes.
	TextOffset uint64
	// Size is the memory the kernel occupies from its load address,
	// including BSS: the header's image_size, or the file size for old
	// kernels that leave it 0.
	Size uint64
	// Gzipped tells that Data came out of a gzip file.
	Gzipped bool
}

// NoHeaderError is ParseImage's error for a file without the Image
// header: too short for one, or no "ARM\x64" magic where it belongs.
// kvmtool boots such a file as a flat binary (see FlatKernel); it still
// wraps ErrNotImage for callers that only take Images.
type NoHeaderError struct {
	// Data is the file, decompressed when it was gzip-compressed.
	Data    []byte
	Gzipped bool
	// Looks names a well-known format the file is in instead ("an ELF
	// file (a vmlinux?)"), "" when the bytes say nothing.
	Looks  string
	detail string
}

func (e *NoHeaderError) Error() string { return ErrNotImage.Error() + ": " + e.detail }
func (e *NoHeaderError) Unwrap() error { return ErrNotImage }

// ParseImage reads an arm64 Image, raw or gzip-compressed. Anything else is
// refused with a message saying what was found instead; a file with no
// Image header at all gets a *NoHeaderError.
func ParseImage(b []byte) (*Image, error) {
	gz := false
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		d, err := gunzip(b)
		if err != nil {
			return nil, err
		}
		b, gz = d, true
	}
	what := identify(b)
	switch {
	case len(b) == 0 && gz:
		return nil, fmt.Errorf("%w: the gzip file decompresses to nothing", ErrNotImage)
	case len(b) == 0, what == zImageFound:
		// Nothing to boot; a 32-bit kernel cannot run on an AArch64 vcpu.
		return nil, fmt.Errorf("%w: found %s", ErrNotImage, what)
	case len(b) < imageHeaderSize, binary.LittleEndian.Uint32(b[imageMagicOffset:]) != imageMagic:
		return nil, noHeader(b, gz, what)
	}
	textOffset := binary.LittleEndian.Uint64(b[8:])
	imageSize := binary.LittleEndian.Uint64(b[16:])
	flags := binary.LittleEndian.Uint64(b[24:])
	if imageSize != 0 && flags&imageFlagBE != 0 {
		return nil, fmt.Errorf("%w: this is a big-endian kernel; gokvm boots little-endian guests", ErrNotImage)
	}
	if imageSize == 0 {
		textOffset = legacyTextOffset
		imageSize = uint64(len(b))
	}
	if imageSize > MaxImageSize {
		return nil, fmt.Errorf("%w: the header's image_size %#x is absurd (a kernel with its BSS takes less than %d MiB)", ErrNotImage, imageSize, MaxImageSize>>20)
	}
	if textOffset >= RAMAlign || textOffset%8 != 0 {
		return nil, fmt.Errorf("%w: text_offset %#x in the header is not below 2 MiB and 8-byte aligned", ErrNotImage, textOffset)
	}
	if imageSize < uint64(len(b)) {
		return nil, fmt.Errorf("%w: the header's image_size (%d) is smaller than the file (%d bytes)", ErrNotImage, imageSize, len(b))
	}
	if err := checkPEComplete(b); err != nil {
		return nil, err
	}
	return &Image{Data: b, TextOffset: textOffset, Size: imageSize, Gzipped: gz}, nil
}

// noHeader is the error for b, which has no Image header; what is what
// identify says of it.
func noHeader(b []byte, gz bool, what string) *NoHeaderError {
	e := &NoHeaderError{Data: b, Gzipped: gz, Looks: what, detail: "found " + what}
	switch {
	case what != "":
	case len(b) < imageHeaderSize:
		e.detail = fmt.Sprintf("the file is %d bytes, too short for the %d-byte Image header (truncated?)", len(b), imageHeaderSize)
	default:
		e.detail = fmt.Sprintf("no \"ARM\\x64\" magic at offset %d (first bytes % x)", imageMagicOffset, b[:16])
	}
	return e
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip header: %w", ErrNotImage, err)
	}
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the gzip stream is truncated", ErrNotImage)
		}
		return nil, fmt.Errorf("%w: decompressing gzip: %w", ErrNotImage, err)
	}
	if n > maxDecompressed {
		return nil, fmt.Errorf("%w: decompresses to more than %d MiB", ErrNotImage, maxDecompressed>>20)
	}
	return out.Bytes(), nil
}

// checkPEComplete catches a truncated EFI-stub Image: its PE section table
// says where the last section's bytes end, and the file must reach there.
func checkPEComplete(b []byte) error {
	if b[0] != 'M' || b[1] != 'Z' {
		return nil // not an EFI-stub kernel: nothing records the length
	}
	pe := uint64(binary.LittleEndian.Uint32(b[60:]))
	if pe+24 > uint64(len(b)) || !bytes.Equal(b[pe:pe+4], []byte("PE\x00\x00")) {
		return fmt.Errorf("%w: the EFI stub's PE header at %#x is missing (truncated?)", ErrNotImage, pe)
	}
	nsect := uint64(binary.LittleEndian.Uint16(b[pe+6:]))
	optSize := uint64(binary.LittleEndian.Uint16(b[pe+20:]))
	table := pe + 24 + optSize
	if table+nsect*40 > uint64(len(b)) {
		return fmt.Errorf("%w: the Image is truncated: the file ends inside its PE section table", ErrNotImage)
	}
	var end uint64
	for i := uint64(0); i < nsect; i++ {
		s := b[table+i*40:]
		size := uint64(binary.LittleEndian.Uint32(s[16:]))
		ptr := uint64(binary.LittleEndian.Uint32(s[20:]))
		end = max(end, ptr+size)
	}
	if end > uint64(len(b)) {
		return fmt.Errorf("%w: the Image is truncated: its sections end at byte %d but the file has %d", ErrNotImage, end, len(b))
	}
	return nil
}

// zImageFound is what identify says of a zImage.
const zImageFound = "a 32-bit ARM zImage (boot it with --aarch32)"

// identify names well-known formats that are not an arm64 Image, for the
// error message; "" when it does not recognise b.
func identify(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case len(b) == 0:
		return "an empty file"
	case len(b) >= 0x28 && binary.LittleEndian.Uint32(b[0x24:]) == 0x016f2818:
		return zImageFound
	case has(0, "\x7fELF"):
		return "an ELF file (a vmlinux?); gokvm boots arch/arm64/boot/Image"
	case has(0, "\x27\x05\x19\x56"):
		return "a U-Boot uImage; give the Image inside it"
	case has(0x202, "HdrS"):
		return "an x86 bzImage"
	case has(0, "\xfd7zXZ\x00"):
		return "an xz-compressed file; gokvm takes a raw or gzip-compressed Image"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "a zstd-compressed file; gokvm takes a raw or gzip-compressed Image"
	case has(0, "BZh"):
		return "a bzip2-compressed file; gokvm takes a raw or gzip-compressed Image"
	case has(0, "\x04\x22\x4d\x18"), has(0, "\x02\x21\x4c\x18"):
		return "an lz4-compressed file; gokvm takes a raw or gzip-compressed Image"
	case has(0, "070701"), has(0, "070702"):
		return "a cpio archive (an initrd?)"
	case has(0, "MZ"):
		return "a PE/EFI executable that is not an arm64 Image"
	}
	return ""
}
