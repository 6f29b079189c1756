// Package snapshot is gokvm's machine state file: a self-describing header
// (JSON: the format version, gokvm's version, the host it was taken on, the
// machine's spec) followed by named binary sections (a vcpu's registers,
// the interrupt controller, a device), each with its SHA-256, so that a
// file that was cut short, edited or written by a newer gokvm is refused
// with an error naming what is wrong before anything of the guest runs.
// Guest RAM is not in it: it is a file of its own, mapped copy-on-write
// at restore (docs/snapshot.md).
//
// The layout, all integers little-endian:
//
//	magic       16 bytes  "GOKVM-SNAPSHOT\n\x00"
//	header      u32 length, that many bytes of JSON, 32 bytes SHA-256 of the JSON
//	sections    until the end: u16 name length, the name, u64 data length,
//	            the data, 32 bytes SHA-256 of the data
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Magic starts every state file.
const Magic = "GOKVM-SNAPSHOT\n\x00"

// FormatVersion is the version of the layout and of every section's
// encoding that this gokvm writes and reads. A file of a higher version is
// refused (ErrNewer); a lower one, once there is one, is read or refused
// by name.
const FormatVersion = 1

// Limits on what a file may make the reader allocate: a header or section
// larger than these is refused before its bytes are read.
const (
	MaxHeader   = 1 << 20
	MaxSection  = 256 << 20
	MaxSections = 1 << 12
	maxName     = 256
)

// Header describes the machine a state file holds.
type Header struct {
	// Format is FormatVersion of the gokvm that wrote the file.
	Format int `json:"format"`
	// Version is the writing gokvm's version (git describe).
	Version string `json:"gokvm_version"`
	// Arch is the guest architecture ("arm64", "arm").
	Arch string `json:"arch"`
	// Host is what the machine depends on of the host it ran on.
	Host Host `json:"host"`
	// Spec is the machine's spec (machine.Spec as JSON).
	Spec json.RawMessage `json:"spec"`
	// RAM is where guest RAM is, and how large.
	RAM RAM `json:"ram"`
	// Sections names the sections that follow, in order (Write fills
	// it in): a file cut at a section's end is told from a whole one.
	Sections []string `json:"sections"`
}

// Host is what a restore must find again on the host.
type Host struct {
	// GIC is the interrupt controller ("gicv3", "gicv2").
	GIC string `json:"gic"`
	// Features are the vcpu features the machine was made with (KVM's
	// names: "sve", "pmu-v3", "ptrauth", "el1-32bit"...).
	Features []string `json:"vcpu_features,omitempty"`
	// SVEVectorLengths is the SVE vector lengths register (bit n set:
	// 128*(n+1) bits), hex, when SVE is on.
	SVEVectorLengths string `json:"sve_vector_lengths,omitempty"`
	// PageSize is the host's page size in bytes.
	PageSize int `json:"page_size"`
}

// RAM is guest RAM's file, beside the state file.
type RAM struct {
	// File is its name, relative to the state file's directory.
	File string `json:"file"`
	// Base and Size are guest-physical.
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

// Section is one named part of the machine's state.
type Section struct {
	Name string
	Data []byte
}

// File is a state file, read whole and checked.
type File struct {
	Header   Header
	Sections []Section
}

// Section finds a section by name.
func (f *File) Section(name string) ([]byte, bool) {
	for _, s := range f.Sections {
		if s.Name == name {
			return s.Data, true
		}
	}
	return nil, false
}

// Errors of a state file that is not one this gokvm can restore.
var (
	ErrNotSnapshot = errors.New("not a gokvm state file (no magic)")
	ErrTruncated   = errors.New("the state file ends early (truncated)")
)

// CorruptError says which part's checksum does not match.
type CorruptError struct{ Part string }

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the state file's %s does not match its SHA-256 (corrupt or edited)", e.Part)
}

// NewerError is a file written by a gokvm with a newer format.
type NewerError struct {
	Format  int
	Version string
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("the state file has format %d (written by gokvm %s); this gokvm reads format %d", e.Format, e.Version, FormatVersion)
}

// Write writes h (its Format set to FormatVersion) and the sections.
func Write(w io.Writer, h Header, sections []Section) error {
	h.Format = FormatVersion
	h.Sections = nil
	for _, s := range sections {
		h.Sections = append(h.Sections, s.Name)
	}
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(Magic)
	binary.Write(&b, binary.LittleEndian, uint32(len(js)))
	b.Write(js)
	sum := sha256.Sum256(js)
	b.Write(sum[:])
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	for _, s := range sections {
		if len(s.Name) == 0 || len(s.Name) > maxName {
			return fmt.Errorf("snapshot section name %q: 1 to %d bytes", s.Name, maxName)
		}
		if len(s.Data) > MaxSection {
			return fmt.Errorf("snapshot section %s: %d bytes, more than %d", s.Name, len(s.Data), MaxSection)
		}
		b.Reset()
		binary.Write(&b, binary.LittleEndian, uint16(len(s.Name)))
		b.WriteString(s.Name)
		binary.Write(&b, binary.LittleEndian, uint64(len(s.Data)))
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
		if _, err := w.Write(s.Data); err != nil {
			return err
		}
		sum := sha256.Sum256(s.Data)
		if _, err := w.Write(sum[:]); err != nil {
			return err
		}
	}
	return nil
}

// Read reads and checks a whole state file: the magic, the header's and
// every section's checksum, and the format version. Nothing it allocates
// is larger than the limits above, whatever the file says.
func Read(r io.Reader) (*File, error) {
	var magic [len(Magic)]byte
	if err := readFull(r, magic[:]); err != nil {
		if err == ErrTruncated {
			return nil, ErrNotSnapshot
		}
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, ErrNotSnapshot
	}
	var n uint32
	if err := readInt(r, &n); err != nil {
		return nil, err
	}
	if n > MaxHeader {
		return nil, fmt.Errorf("the state file's header says %d bytes, more than %d (corrupt)", n, MaxHeader)
	}
	js, err := readChecked(r, int(n), "header")
	if err != nil {
		return nil, err
	}
	f := &File{}
	// A newer format may have changed anything after the version: read
	// that first, alone.
	var v struct {
		Format  int    `json:"format"`
		Version string `json:"gokvm_version"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		return nil, fmt.Errorf("the state file's header: %w", err)
	}
	if v.Format > FormatVersion {
		return nil, &NewerError{Format: v.Format, Version: v.Version}
	}
	if v.Format < 1 {
		return nil, fmt.Errorf("the state file's header has format %d (corrupt)", v.Format)
	}
	if err := json.Unmarshal(js, &f.Header); err != nil {
		return nil, fmt.Errorf("the state file's header: %w", err)
	}
	for {
		var nl [2]byte
		if _, err := io.ReadFull(r, nl[:]); err == io.EOF {
			break
		} else if err != nil {
			return nil, truncated(err)
		}
		l := binary.LittleEndian.Uint16(nl[:])
		if l == 0 || l > maxName {
			return nil, fmt.Errorf("the state file has a section name of %d bytes (corrupt)", l)
		}
		name := make([]byte, l)
		if err := readFull(r, name); err != nil {
			return nil, err
		}
		var dl uint64
		if err := readInt(r, &dl); err != nil {
			return nil, err
		}
		if dl > MaxSection {
			return nil, fmt.Errorf("the state file's section %q says %d bytes, more than %d (corrupt)", name, dl, MaxSection)
		}
		if len(f.Sections) == MaxSections {
			return nil, fmt.Errorf("the state file has more than %d sections (corrupt)", MaxSections)
		}
		data, err := readChecked(r, int(dl), fmt.Sprintf("section %q", name))
		if err != nil {
			return nil, err
		}
		f.Sections = append(f.Sections, Section{Name: string(name), Data: data})
	}
	// A file cut at a section's end reads cleanly: the header's list of
	// sections says what must be there.
	if len(f.Sections) != len(f.Header.Sections) {
		return nil, fmt.Errorf("%w: %d sections of the %d its header lists", ErrTruncated, len(f.Sections), len(f.Header.Sections))
	}
	for i, s := range f.Sections {
		if s.Name != f.Header.Sections[i] {
			return nil, fmt.Errorf("the state file's section %d is %q, its header says %q (corrupt)", i, s.Name, f.Header.Sections[i])
		}
	}
	return f, nil
}

func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}

func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return truncated(err)
}

func readInt(r io.Reader, v any) error {
	return truncated(binary.Read(r, binary.LittleEndian, v))
}

// readChecked reads n bytes and the SHA-256 that follows them. It grows
// its buffer as bytes arrive, so a length that lies costs no more memory
// than the file has.
func readChecked(r io.Reader, n int, part string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if len(data) != n {
		return nil, ErrTruncated
	}
	var sum [sha256.Size]byte
	if err := readFull(r, sum[:]); err != nil {
		return nil, err
	}
	if sha256.Sum256(data) != sum {
		return nil, &CorruptError{Part: part}
	}
	return data, nil
}
