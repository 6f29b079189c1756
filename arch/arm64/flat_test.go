package arm64

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/internal/testimage"
	"github.com/gokvm/gokvm/vmm"
)

// Files without an Image header load as kvmtool loads them: as they are,
// at RAM+0x80000, their whole length; what they look like goes into the
// warning.
func TestLoadFlat(t *testing.T) {
	code := []byte{0x00, 0x00, 0x00, 0x14} // b . : a 4-byte payload
	text := []byte(strings.Repeat("this is no kernel\n", 10))
	elf := append([]byte("\x7fELF"), make([]byte, 100)...)
	for _, tc := range []struct {
		name string
		file []byte
		data []byte // what goes into RAM
		why  string
	}{
		{"4 bytes of code", code, code, "has no arm64 Image header"},
		{"text", text, text, "has no arm64 Image header"},
		{"ELF", elf, elf, "has no arm64 Image header (it looks like an ELF file (a vmlinux?)"},
		{"gzip of code", testimage.Gzip(text), text, "once decompressed, has no arm64 Image header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := AArch64{}.Load(tc.file)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !bytes.Equal(k.Data, tc.data) || k.Offset != 0x80000 || k.Size != uint64(len(tc.data)) {
				t.Errorf("loaded %d bytes at RAM+%#x taking %d bytes, want the %d bytes at RAM+0x80000", len(k.Data), k.Offset, k.Size, len(tc.data))
			}
			if !strings.HasPrefix(k.FlatWhy, tc.why) {
				t.Errorf("FlatWhy %q, want it to start with %q", k.FlatWhy, tc.why)
			}
		})
	}
	img, err := AArch64{}.Load(testimage.Arm64(4096, 0, 8192))
	if err != nil || img.FlatWhy != "" {
		t.Errorf("an Image loaded as flat (%q) or refused: %v", img.FlatWhy, err)
	}
}

// What stays refused: nothing to boot, a gzip that does not decompress, a
// 32-bit kernel, and a file with a header that is wrong.
func TestLoadFlatRefuses(t *testing.T) {
	gz := testimage.Gzip(testimage.Arm64(64<<10, 0, 1<<20))
	be := testimage.Arm64(4096, 0, 8192)
	binary.LittleEndian.PutUint64(be[24:], 1)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "an empty file"},
		{"gzip of nothing", testimage.Gzip(nil), "decompresses to nothing"},
		{"truncated gzip", gz[:len(gz)/2], "truncated"},
		{"gzip header only", []byte{0x1f, 0x8b}, "gzip header"},
		{"zImage", testimage.Zimage(4096), "--aarch32"},
		{"big-endian Image", be, "big-endian"},
		{"image_size below the file", testimage.Arm64(8192, 0, 4096), "smaller than the file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := AArch64{}.Load(tc.file)
			if err == nil {
				t.Fatalf("loaded (flat: %q)", k.FlatWhy)
			}
			if !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want ErrNotImage mentioning %q", err, tc.want)
			}
		})
	}
}

// prepare runs a board's Prepare on p and returns the placement and what
// the board logged.
func prepare(t *testing.T, g Guest, p vmm.Payload, ramBase, ramSize uint64) (Placement, string, error) {
	t.Helper()
	var logged bytes.Buffer
	b := New(Options{Guest: g, Log: log.New(&logged, "gokvm: ", 0)})
	err := b.Prepare(p, ramBase, ramSize, 1)
	return b.Placement(), logged.String(), err
}

// A flat payload goes where kvmtool puts it: at RAM+0x80000, its initrd
// and device tree at the top of the first 256 MiB of RAM (the device tree
// in its 2 MiB block, as kvmtool aligns it), with a warning naming the
// file and the address.
func TestPrepareFlatAsKvmtool(t *testing.T) {
	code := []byte{0x00, 0x00, 0x00, 0x14}
	const base = 0x8000_0000
	for _, tc := range []struct {
		name    string
		ramSize uint64
		fdt     uint64
	}{
		{"1 GiB of RAM", 1 << 30, base + 254<<20},
		{"256 MiB", 256 << 20, base + 254<<20},
		{"64 MiB", 64 << 20, base + 62<<20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logged, err := prepare(t, AArch64{}, vmm.Payload{Kernel: code, KernelName: "test.bin", Initrd: make([]byte, 3<<20)}, base, tc.ramSize)
			if err != nil {
				t.Fatal(err)
			}
			if p.KernelAddr != base+0x80000 || p.KernelEnd != base+0x80004 {
				t.Errorf("payload at %#x-%#x, want 0x80080000-0x80080004", p.KernelAddr, p.KernelEnd)
			}
			if p.FDTAddr != tc.fdt {
				t.Errorf("device tree at %#x, want %#x", p.FDTAddr, tc.fdt)
			}
			if p.InitrdEnd > p.FDTAddr || p.FDTAddr-p.InitrdEnd >= initrdAlign || p.InitrdEnd-p.InitrdAddr != 3<<20 {
				t.Errorf("initrd at %#x-%#x, want its 3 MiB just below the device tree", p.InitrdAddr, p.InitrdEnd)
			}
			want := "gokvm: kernel test.bin has no arm64 Image header; loading it as a flat binary at 0x80080000 as kvmtool does\n"
			if logged != want {
				t.Errorf("logged %q, want %q", logged, want)
			}
		})
	}
	// An Image is placed as booting.rst says, silently: the device tree
	// at the top of RAM.
	p, logged, err := prepare(t, AArch64{}, vmm.Payload{Kernel: testimage.Arm64(4096, 0, 8192)}, base, 1<<30)
	if err != nil || logged != "" || p.FDTAddr != base+1<<30-2<<20 {
		t.Errorf("an Image: device tree at %#x, logged %q, error %v", p.FDTAddr, logged, err)
	}
}

// A flat payload that does not fit below its device tree in the first
// 256 MiB is refused, saying that more RAM does not help; one too large
// for small RAM asks for more.
func TestPlaceFlatTooLarge(t *testing.T) {
	const base = 0x8000_0000
	_, err := Place(base, 1<<30, FlatOffset, 254<<20, 0, flatLimit(base, 1<<30))
	if err == nil || !strings.Contains(err.Error(), "more than the first 256 MiB of RAM") {
		t.Errorf("a 254 MiB flat payload in 1 GiB: %v, want it refused as beyond the first 256 MiB", err)
	}
	// 0x80000 + 253.5 MiB ends in the 2 MiB block below the device tree's.
	if _, err := Place(base, 1<<30, FlatOffset, 253<<20+512<<10, 0, flatLimit(base, 1<<30)); err != nil {
		t.Errorf("a 253.5 MiB flat payload in 1 GiB: %v", err)
	}
	_, err = Place(base, 32<<20, FlatOffset, 31<<20, 0, flatLimit(base, 32<<20))
	if err == nil || !strings.Contains(err.Error(), "-m 32 MiB is too small") {
		t.Errorf("a 31 MiB flat payload in 32 MiB: %v", err)
	}
}

// Firmware goes as kvmtool's --firmware puts it: at the start of RAM (or
// the address given), entered there, the device tree at the next 2 MiB
// boundary after it, no initrd.
func TestPlaceFirmware(t *testing.T) {
	const base, size = 0x8000_0000, 256 << 20
	for _, tc := range []struct {
		name             string
		addr, fwSize     uint64
		wantAddr, wantDT uint64
	}{
		{"default address", 0, 0x1234, base, base + 2<<20},
		{"2 MiB exactly", 0, 2 << 20, base, base + 2<<20},
		{"2 MiB and a byte", 0, 2<<20 + 1, base, base + 4<<20},
		{"given address", base + 0x10_0000, 64 << 10, base + 0x10_0000, base + 2<<20},
		{"at the end of RAM", base + size - 4<<20, 1 << 20, base + size - 4<<20, base + size - 2<<20},
		{"ending where the device tree's block starts", base + size - 2<<20 - 8, 8, base + size - 2<<20 - 8, base + size - 2<<20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlaceFirmware(base, size, tc.addr, tc.fwSize)
			if err != nil {
				t.Fatal(err)
			}
			if p.KernelAddr != tc.wantAddr || p.KernelEnd != tc.wantAddr+tc.fwSize || p.FDTAddr != tc.wantDT || p.InitrdAddr != 0 || p.InitrdEnd != 0 {
				t.Errorf("placed %+v, want the firmware at %#x and the device tree at %#x", p, tc.wantAddr, tc.wantDT)
			}
		})
	}
}

func TestPlaceFirmwareRefuses(t *testing.T) {
	const base, size = 0x8000_0000, 256 << 20
	for _, tc := range []struct {
		name         string
		addr, fwSize uint64
		want         string
	}{
		{"below RAM", 0x4000_0000, 4096, "firmware address 0x40000000 is not in RAM (0x80000000-0x8fffffff)"},
		{"past RAM", base + size, 4096, "not in RAM"},
		{"misaligned", base + 2, 4096, "not 4-byte aligned"},
		{"larger than RAM", 0, size + 1, "does not fit in RAM"},
		{"size near 2^64", 0, ^uint64(0) - 0x1000, "does not fit in RAM"},
		{"no room for the device tree", 0, size - 1<<20, "no room for the device tree"},
		{"device tree block just too short", base + size - 2<<20 - 4, 8, "no room for the device tree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PlaceFirmware(base, size, tc.addr, tc.fwSize)
			if err == nil || !vmm.IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tc.want)
			}
		})
	}
}

// Through the board: firmware is taken as it is (even an Image), with no
// warning; a kernel or initrd beside it is refused.
func TestPrepareFirmware(t *testing.T) {
	const base = 0x8000_0000
	fw := testimage.Arm64(4096, 0x80000, 8192) // an Image as firmware still goes at the start of RAM
	p, logged, err := prepare(t, AArch64{}, vmm.Payload{Firmware: fw, Cmdline: "x"}, base, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if p.KernelAddr != base || p.KernelEnd != base+4096 || p.FDTAddr != base+2<<20 || logged != "" {
		t.Errorf("firmware at %#x-%#x, device tree at %#x, logged %q", p.KernelAddr, p.KernelEnd, p.FDTAddr, logged)
	}
	for _, pl := range []vmm.Payload{{Firmware: fw, Kernel: fw}, {Firmware: fw, Initrd: fw}} {
		if _, _, err := prepare(t, AArch64{}, pl, base, 256<<20); err == nil || !vmm.IsConfigError(err) {
			t.Errorf("firmware with a kernel or initrd: %v", err)
		}
	}
}
