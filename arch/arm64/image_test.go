package arm64

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
)

func TestParseImageRaw(t *testing.T) {
	raw := testimage.Arm64(1<<20, 0, 3<<20)
	img, err := ParseImage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if img.TextOffset != 0 || img.Size != 3<<20 || len(img.Data) != 1<<20 || img.Gzipped {
		t.Errorf("parsed %+v", struct {
			TextOffset, Size uint64
			Len              int
			Gz               bool
		}{img.TextOffset, img.Size, len(img.Data), img.Gzipped})
	}
}

func TestParseImageGzip(t *testing.T) {
	raw := testimage.Arm64(300<<10, 0x80000, 1<<20)
	img, err := ParseImage(testimage.Gzip(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !img.Gzipped || img.TextOffset != 0x80000 || string(img.Data) != string(raw) {
		t.Errorf("gzip Image not decompressed intact (gz=%v, text_offset=%#x, %d bytes)", img.Gzipped, img.TextOffset, len(img.Data))
	}
}

func TestParseImageLegacyZeroSize(t *testing.T) {
	raw := testimage.Arm64(4096, 0x1234, 0)
	img, err := ParseImage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if img.TextOffset != legacyTextOffset || img.Size != 4096 {
		t.Errorf("image_size 0: got text_offset %#x size %d, want %#x and the file size", img.TextOffset, img.Size, legacyTextOffset)
	}
}

func TestParseImageRejects(t *testing.T) {
	be := testimage.Arm64(4096, 0, 8192)
	binary.LittleEndian.PutUint64(be[24:], 1)
	gz := testimage.Gzip(testimage.Arm64(64<<10, 0, 1<<20))
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "an empty file"},
		{"short", []byte("hello"), "too short"},
		{"garbage", []byte(strings.Repeat("garbage!", 20)), "no \"ARM\\x64\" magic"},
		{"zImage", testimage.Zimage(4096), "--aarch32"},
		{"ELF", append([]byte("\x7fELF"), make([]byte, 100)...), "ELF"},
		{"xz", append([]byte("\xfd7zXZ\x00"), make([]byte, 100)...), "xz-compressed"},
		{"cpio", []byte("070701" + strings.Repeat("0", 200)), "cpio archive"},
		{"big-endian", be, "big-endian"},
		{"truncated gzip", gz[:len(gz)/2], "truncated"},
		{"bad text_offset", testimage.Arm64(4096, 3<<20, 8<<20), "text_offset"},
		{"image_size below file", testimage.Arm64(8192, 0, 4096), "smaller than the file"},
		{"image_size near 2^64", testimage.Arm64(8192, 0, ^uint64(0)-0x1000), "image_size 0xffffffffffffefff is absurd"},
		{"image_size over 1 GiB", testimage.Arm64(8192, 0, 1<<30+1), "is absurd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseImage(tc.b)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want ErrNotImage mentioning %q", err, tc.want)
			}
		})
	}
}

// peImage builds an EFI-stub-like Image whose one PE section ends at
// sectEnd.
func peImage(fileSize int, sectEnd uint32) []byte {
	b := testimage.Arm64(fileSize, 0, uint64(fileSize)*2)
	b[0], b[1] = 'M', 'Z'
	const pe = 0x40
	binary.LittleEndian.PutUint32(b[60:], pe)
	copy(b[pe:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[pe+6:], 1)  // one section
	binary.LittleEndian.PutUint16(b[pe+20:], 0) // no optional header
	sect := b[pe+24:]
	binary.LittleEndian.PutUint32(sect[16:], sectEnd-0x1000) // SizeOfRawData
	binary.LittleEndian.PutUint32(sect[20:], 0x1000)         // PointerToRawData
	return b
}

func TestParseImageTruncatedEFI(t *testing.T) {
	if _, err := ParseImage(peImage(64<<10, 64<<10)); err != nil {
		t.Fatalf("a complete EFI-stub Image was refused: %v", err)
	}
	full := peImage(64<<10, 64<<10)
	_, err := ParseImage(full[:40<<10])
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("a truncated EFI-stub Image: error %v, want one saying truncated", err)
	}
}

func FuzzParseImage(f *testing.F) {
	f.Add(testimage.Arm64(256, 0, 4096))
	f.Add(testimage.Gzip(testimage.Arm64(256, 0, 4096)))
	f.Add(peImage(8<<10, 8<<10))
	f.Add(testimage.Zimage(128))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := ParseImage(b)
		if err != nil {
			if !errors.Is(err, ErrNotImage) {
				t.Fatalf("error not wrapping ErrNotImage: %v", err)
			}
			return
		}
		if img.Size < uint64(len(img.Data)) || img.TextOffset >= RAMAlign {
			t.Fatalf("accepted an inconsistent Image: size %d < %d bytes, or text_offset %#x", img.Size, len(img.Data), img.TextOffset)
		}
	})
}

// Whatever the file, Load refuses it or gives a kernel whose data fits
// its size: an Image as ParseImage read it, anything else flat.
func FuzzLoad(f *testing.F) {
	f.Add(testimage.Arm64(256, 0, 4096))
	f.Add(testimage.Gzip([]byte("flat")))
	f.Add([]byte{0, 0, 0, 0x14})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := AArch64{}.Load(b)
		if err != nil {
			return
		}
		if k.Size < uint64(len(k.Data)) || len(k.Data) == 0 {
			t.Fatalf("a kernel of %d bytes taking %d", len(k.Data), k.Size)
		}
		if k.FlatWhy != "" && (k.Offset != FlatOffset || k.Size != uint64(len(k.Data))) {
			t.Fatalf("a flat payload at RAM+%#x taking %d bytes for its %d", k.Offset, k.Size, len(k.Data))
		}
	})
}
