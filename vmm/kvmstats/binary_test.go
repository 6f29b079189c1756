package kvmstats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sampleStat is one statistic of a built statistics file.
type sampleStat struct {
	name     string
	flags    uint32
	exponent int16
	values   []uint64
}

// KVM_STATS_* flag values (linux/kvm.h): type in bits 0-3, unit in 4-7,
// base in 8-11.
const (
	flagCumulative = 0x0
	flagInstant    = 0x1
	flagLogHist    = 0x4
	unitSeconds    = 0x2 << 4
	unitBoolean    = 0x4 << 4
	basePow2       = 0x1 << 8
)

// vcpuSample is a vcpu's statistics as arm64 KVM lays them out (the
// generic vcpu statistics, then arch/arm64/kvm/guest.c's), shortened.
var vcpuSample = []sampleStat{
	{"halt_successful_poll", flagCumulative, 0, []uint64{120}},
	{"halt_wakeup", flagCumulative, 0, []uint64{2190}},
	{"halt_wait_ns", flagCumulative | unitSeconds, -9, []uint64{1_850_000_000}},
	{"halt_wait_hist", flagLogHist | unitSeconds | basePow2, -9, make([]uint64, 32)},
	{"blocking", flagInstant | unitBoolean, 0, []uint64{1}},
	{"mmio_exit_user", flagCumulative, 0, []uint64{4310}},
	{"signal_exits", flagCumulative, 0, []uint64{57}},
	{"exits", flagCumulative, 0, []uint64{9872}},
}

// buildStats lays a statistics file out as api.rst 4.133 and linux/kvm.h
// describe it, the way the kernel does (kvm_stats_read): header, id,
// descriptors with names of nameSize bytes, then the data.
func buildStats(id string, stats []sampleStat) []byte {
	const nameSize = 48 // KVM_STATS_NAME_SIZE
	idOff := uint32(headerSize)
	descOff := idOff + nameSize
	dataOff := descOff + uint32(len(stats))*(descSize+nameSize)
	var b bytes.Buffer
	for _, v := range []uint32{0, nameSize, uint32(len(stats)), idOff, descOff, dataOff} {
		binary.Write(&b, binary.NativeEndian, v)
	}
	b.Write(padName(id, nameSize))
	var data bytes.Buffer
	for _, s := range stats {
		binary.Write(&b, binary.NativeEndian, s.flags)
		binary.Write(&b, binary.NativeEndian, s.exponent)
		binary.Write(&b, binary.NativeEndian, uint16(len(s.values)))
		binary.Write(&b, binary.NativeEndian, uint32(data.Len()))
		binary.Write(&b, binary.NativeEndian, uint32(0))
		b.Write(padName(s.name, nameSize))
		for _, v := range s.values {
			binary.Write(&data, binary.NativeEndian, v)
		}
	}
	b.Write(data.Bytes())
	return b.Bytes()
}

func padName(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

func TestReadSchemaAndCounters(t *testing.T) {
	file := buildStats("kvm-812/vcpu-0", vcpuSample)
	s, err := ReadSchema(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != "kvm-812/vcpu-0" {
		t.Errorf("id %q", s.ID)
	}
	if len(s.Stats) != len(vcpuSample) {
		t.Fatalf("%d statistics, want %d", len(s.Stats), len(vcpuSample))
	}
	if d := s.Stats[2]; d.Name != "halt_wait_ns" || d.Exponent != -9 || d.Type() != TypeCumulative || d.Size != 1 {
		t.Errorf("halt_wait_ns described as %+v", d)
	}
	if d := s.Stats[3]; d.Type() != TypeLogHist || d.Size != 32 {
		t.Errorf("halt_wait_hist described as %+v", d)
	}
	c, err := s.ReadCounters(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{"kvm.halt_successful_poll": 120, "kvm.halt_wakeup": 2190, "kvm.halt_wait_ns": 1_850_000_000,
		"kvm.mmio_exit_user": 4310, "kvm.signal_exits": 57, "kvm.exits": 9872}
	if !equalCounters(c, want) {
		t.Errorf("counters %v, want %v (no instant, no histogram)", c, want)
	}
}

// TestReadCountersReadsTheDataAgain: the schema is read once, the values
// each time.
func TestReadCountersReadsTheDataAgain(t *testing.T) {
	before := buildStats("kvm-1", vcpuSample)
	s, err := ReadSchema(bytes.NewReader(before))
	if err != nil {
		t.Fatal(err)
	}
	later := append([]sampleStat(nil), vcpuSample...)
	later[len(later)-1] = sampleStat{"exits", flagCumulative, 0, []uint64{10_000}}
	c, err := s.ReadCounters(bytes.NewReader(buildStats("kvm-1", later)))
	if err != nil {
		t.Fatal(err)
	}
	if c["kvm.exits"] != 10_000 {
		t.Errorf("exits %d after the data changed, want 10000", c["kvm.exits"])
	}
}

// TestCutShortIsAnError: a file cut anywhere fails with ErrBadStats,
// never a panic or a value read past the end.
func TestCutShortIsAnError(t *testing.T) {
	file := buildStats("kvm-1", vcpuSample)
	for n := 0; n < len(file); n++ {
		r := bytes.NewReader(file[:n])
		s, err := ReadSchema(r)
		if err == nil {
			_, err = s.ReadCounters(r)
		}
		if !errors.Is(err, ErrBadStats) {
			t.Fatalf("file cut to %d of %d bytes: %v, want ErrBadStats", n, len(file), err)
		}
	}
}

func TestBadHeaders(t *testing.T) {
	good := buildStats("kvm-1", vcpuSample)
	set := func(field int, v uint32) []byte {
		b := append([]byte(nil), good...)
		binary.NativeEndian.PutUint32(b[4*field:], v)
		return b
	}
	descOff := int(binary.NativeEndian.Uint32(good[16:]))
	farOffset := append([]byte(nil), good...)
	binary.NativeEndian.PutUint32(farOffset[descOff+8:], 1<<30) // the first statistic's data offset
	noName := append([]byte(nil), good...)
	noName[descOff+descSize] = 0
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"no name size", set(1, 0), "name size 0"},
		{"a huge name size", set(1, 1<<20), "name size"},
		{"too many statistics", set(2, 1<<20), "statistics"},
		{"descriptors past the end", set(4, uint32(len(good))), "descriptors"},
		{"data past the end", set(5, uint32(len(good))), "data"},
		{"a statistic's data far away", farOffset, "ends at byte"},
		{"a statistic without a name", noName, "no name"},
	} {
		r := bytes.NewReader(tc.file)
		s, err := ReadSchema(r)
		if err == nil {
			_, err = s.ReadCounters(r)
		}
		if !errors.Is(err, ErrBadStats) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadStats saying %q", tc.name, err, tc.want)
		}
	}
}

// TestFileReadsWithPread reads a statistics file through its descriptor,
// as gokvm reads KVM_GET_STATS_FD's.
func TestFileReadsWithPread(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stats")
	if err := os.WriteFile(p, buildStats("kvm-812", vcpuSample), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := dupFD(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sf, err := OpenFile(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if sf.ID() != "kvm-812" {
		t.Errorf("id %q", sf.ID())
	}
	c, err := sf.Read()
	if err != nil {
		t.Fatal(err)
	}
	if c["kvm.exits"] != 9872 || c["kvm.halt_wakeup"] != 2190 {
		t.Errorf("counters %v", c)
	}
}

// FuzzReadSchema: whatever the file holds, reading it returns an error
// or counters named after its statistics, and never panics.
func FuzzReadSchema(f *testing.F) {
	good := buildStats("kvm-1/vcpu-0", vcpuSample)
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add(good[:headerSize])
	f.Add(buildStats("kvm-2", nil))
	f.Fuzz(func(t *testing.T, file []byte) {
		r := bytes.NewReader(file)
		s, err := ReadSchema(r)
		if err != nil {
			if !errors.Is(err, ErrBadStats) {
				t.Fatalf("error %v does not wrap ErrBadStats", err)
			}
			return
		}
		c, err := s.ReadCounters(r)
		if err != nil {
			return
		}
		names := map[string]bool{}
		for _, d := range s.Stats {
			names["kvm."+d.Name] = true
		}
		for n := range c {
			if !names[n] {
				t.Fatalf("counter %s is no statistic of the file", n)
			}
		}
	})
}

func equalCounters(a, b Counters) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// dupFD is a descriptor of f's own, which OpenFile takes.
func dupFD(f *os.File) (int, error) { return unix.Dup(int(f.Fd())) }
