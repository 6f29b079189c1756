package tinyguest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gokvm/gokvm/arch/arm64"
)

// The board's own parser must take the Image as it is, code in place.
func TestImageParsesAsArm64Image(t *testing.T) {
	var a Asm
	code, err := a.PSCI(PSCISystemOff).Spin().Code()
	if err != nil {
		t.Fatal(err)
	}
	b := Image(code)
	img, err := arm64.ParseImage(b)
	if err != nil {
		t.Fatalf("ParseImage refused the tiny Image: %v", err)
	}
	if img.TextOffset != 0 || img.Size != uint64(len(b)) || img.Gzipped {
		t.Errorf("parsed text_offset %#x, size %d, gzipped %v; want 0, %d, false", img.TextOffset, img.Size, img.Gzipped, len(b))
	}
	if !bytes.Equal(img.Data[HeaderSize:], code) {
		t.Errorf("the code is not at offset %d of the Image", HeaderSize)
	}
	// The entry point is the Image's first word: it must land on the code.
	if w := binary.LittleEndian.Uint32(b); w != B(HeaderSize) {
		t.Errorf("code0 is %#08x, want a branch over the %d-byte header", w, HeaderSize)
	}
}
