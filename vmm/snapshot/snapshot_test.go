package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func sample(t testing.TB) []byte {
	var b bytes.Buffer
	h := Header{Version: "v1-test", Arch: "arm64", Host: Host{GIC: "gicv3", PageSize: 4096},
		Spec: json.RawMessage(`{"cpus":2}`), RAM: RAM{File: "x.ram", Base: 0x8000_0000, Size: 256 << 20}}
	err := Write(&b, h, []Section{{"vcpu0", []byte("registers")}, {"gic", bytes.Repeat([]byte{7}, 1000)}, {"empty", nil}})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRoundTrip: what is written reads back, header and sections.
func TestRoundTrip(t *testing.T) {
	f, err := Read(bytes.NewReader(sample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Format != FormatVersion || f.Header.Host.GIC != "gicv3" || f.Header.RAM.Size != 256<<20 || string(f.Header.Spec) != `{"cpus":2}` {
		t.Errorf("header %+v", f.Header)
	}
	if d, ok := f.Section("vcpu0"); !ok || string(d) != "registers" {
		t.Errorf("vcpu0 = %q, %v", d, ok)
	}
	if d, ok := f.Section("gic"); !ok || len(d) != 1000 {
		t.Errorf("gic: %d bytes, %v", len(d), ok)
	}
	if _, ok := f.Section("empty"); !ok {
		t.Error("the empty section is missing")
	}
}

// TestBadFiles: every way of cutting or editing a file is an error that
// names what is wrong, never a file read as something else.
func TestBadFiles(t *testing.T) {
	good := sample(t)
	for n := 0; n < len(good); n++ {
		if _, err := Read(bytes.NewReader(good[:n])); err == nil {
			t.Fatalf("a file cut to %d of %d bytes was read", n, len(good))
		} else if n >= len(Magic) && !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut to %d bytes: %v, want ErrTruncated", n, err)
		}
	}
	for i := len(Magic); i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, err := Read(bytes.NewReader(bad)); err == nil {
			t.Fatalf("a file with byte %d changed was read", i)
		}
	}
	if _, err := Read(strings.NewReader("ELF..........................")); !errors.Is(err, ErrNotSnapshot) {
		t.Errorf("not a state file: %v", err)
	}
	var b bytes.Buffer
	Write(&b, Header{Version: "v1"}, nil)
	future := bytes.Replace(b.Bytes(), []byte(`"format":1`), []byte(`"format":9`), 1)
	// Re-sign the header, as a newer gokvm would have written it.
	future = resign(t, future)
	var newer *NewerError
	if _, err := Read(bytes.NewReader(future)); !errors.As(err, &newer) || newer.Format != 9 {
		t.Errorf("a newer file: %v", err)
	}
}

// resign recomputes the header checksum of a file with no sections.
func resign(t *testing.T, f []byte) []byte {
	t.Helper()
	n := int(f[len(Magic)]) | int(f[len(Magic)+1])<<8
	js := f[len(Magic)+4 : len(Magic)+4+n]
	var b bytes.Buffer
	b.Write(f[:len(Magic)+4+n])
	sum := sha256Sum(js)
	b.Write(sum[:])
	return b.Bytes()
}

// FuzzRead: no input makes Read panic or allocate past its limits, and
// whatever it accepts writes back to a file it reads the same.
func FuzzRead(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Write(&b, got.Header, got.Sections); err != nil {
			t.Fatalf("an accepted file does not write back: %v", err)
		}
		again, err := Read(&b)
		if err != nil || len(again.Sections) != len(got.Sections) {
			t.Fatalf("written back, it reads as %v, %v", again, err)
		}
	})
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
