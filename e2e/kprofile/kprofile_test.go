package kprofile

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/symbols"
	"golang.org/x/sys/unix"
)

// record lays out one perf record: header, then the 64-bit words, then
// pad extra bytes.
func record(typ uint32, words ...uint64) []byte {
	b := make([]byte, 8+8*len(words))
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(b)))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8+8*i:], w)
	}
	return b
}

// tid packs a sample's pid and tid word.
func tid(pid, tid uint32) uint64 { return uint64(tid)<<32 | uint64(pid) }

const (
	contextKernel = ^uint64(127) // PERF_CONTEXT_KERNEL, (u64)-128
	contextUser   = ^uint64(511) // PERF_CONTEXT_USER, (u64)-512
)

func TestParse(t *testing.T) {
	var b []byte
	b = append(b, record(unix.PERF_RECORD_SAMPLE, 0xa0, tid(10, 11), 5, contextKernel, 0xa0, 0xb0, contextUser, 0x40)...)
	b = append(b, record(unix.PERF_RECORD_LOST, 7, 5)...)
	b = append(b, record(unix.PERF_RECORD_MMAP, 1, 2, 3)...) // skipped
	// A sample whose chain is only a context marker keeps its ip.
	b = append(b, record(unix.PERF_RECORD_SAMPLE, 0xc0, tid(20, 20), 3, contextKernel, contextUser, 0x50)...)
	got, lost, err := parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{{10, 11, []uint64{0xa0, 0xb0}, []uint64{0x40}, false}, {20, 20, []uint64{0xc0}, []uint64{0x50}, true}}
	if !reflect.DeepEqual(got, want) || lost != 5 {
		t.Errorf("parse = %+v, lost %d; want %+v, lost 5", got, lost, want)
	}
}

func TestParseRefusesBadRecords(t *testing.T) {
	good := record(unix.PERF_RECORD_SAMPLE, 0xa0, tid(1, 1), 1, 0xa0)
	long := record(unix.PERF_RECORD_SAMPLE, 0xa0, tid(1, 1), 2, 0xa0) // nr 2, one address
	short := append([]byte(nil), good...)
	binary.LittleEndian.PutUint16(short[6:], 4) // smaller than its header
	for name, b := range map[string][]byte{
		"header cut short":      good[:5],
		"record past the bytes": good[:len(good)-8],
		"size below header":     short,
		"chain past the record": long,
		"sample cut short":      record(unix.PERF_RECORD_SAMPLE, 0xa0),
		"lost cut short":        record(unix.PERF_RECORD_LOST, 1),
	} {
		if _, _, err := parse(append(append([]byte(nil), good...), b...)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestUnwrap(t *testing.T) {
	data := []byte("0123456789")
	for _, c := range []struct {
		tail, head uint64
		want       string
	}{
		{0, 0, ""},
		{2, 5, "234"},
		{8, 13, "89012"},      // wraps
		{28, 33, "89012"},     // positions past several laps
		{0, 15, "5678901234"}, // more than the buffer: the newest size bytes
	} {
		if got := string(unwrap(data, c.tail, c.head)); got != c.want {
			t.Errorf("unwrap(%d, %d) = %q, want %q", c.tail, c.head, got, c.want)
		}
	}
}

func TestFold(t *testing.T) {
	dir := t.TempDir()
	m := "0000000000001000 T el0_svc\n0000000000001100 T kvm_arch_vcpu_ioctl_run\n0000000000001200 t leaf\n0000000000001300 T end\n"
	path := filepath.Join(dir, "kallsyms")
	if err := os.WriteFile(path, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	syms, err := symbols.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &Profiler{syms: syms}
	if got, want := p.fold("vcpu", sample{chain: []uint64{0x1210, 0x1104, 0x1000, 0x10}}), "vcpu;0x10;el0_svc;kvm_arch_vcpu_ioctl_run;leaf"; got != want {
		t.Errorf("fold = %q, want %q", got, want)
	}
	// User frames come before the kernel's, outermost first, named
	// by the process's symbols where they can be.
	p.user = func(a uint64) (string, bool) { return "main.f", a == 0x40 }
	if got, want := p.fold("vcpu", sample{chain: []uint64{0x1210}, user: []uint64{0x40, 0x30}}), "vcpu;0x30;main.f;leaf"; got != want {
		t.Errorf("fold with a user chain = %q, want %q", got, want)
	}
	if got, want := p.fold("vcpu", sample{chain: []uint64{0x1210}, user: []uint64{0x40}, guest: true}), "vcpu;[guest];0x1210"; got != want {
		t.Errorf("fold of a guest's pc = %q, want %q", got, want)
	}
	// A deep chain keeps the frames nearest the leaf.
	deep := []uint64{0x1210}
	for len(deep) < maxFrames+5 {
		deep = append(deep, 0x1000)
	}
	got := p.fold("vcpu", sample{chain: deep, user: deep})
	if n := strings.Count(got, ";"); n != maxUserFrames+maxFrames || !strings.HasSuffix(got, ";leaf") {
		t.Errorf("fold of %d frames = %q: want %d frames ending in leaf", len(deep), got, maxUserFrames+maxFrames)
	}
}

func TestStacksAdd(t *testing.T) {
	s := Stacks{"vcpu;a": 1}
	s.Add(Stacks{"vcpu;a": 2, "other;b": 3})
	if want := (Stacks{"vcpu;a": 3, "other;b": 3}); !reflect.DeepEqual(s, want) {
		t.Errorf("Add = %v, want %v", s, want)
	}
}

// TestExeSymbols names a function's address in an executable with a
// symbol table (this test binary) and in a Go one without (-s -w, as
// gokvm is built), and names nothing in a file that is not an executable.
func TestExeSymbols(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pc := uint64(reflect.ValueOf(TestExeSymbols).Pointer())
	name := func(path string) string {
		f := exeSymbols(path)
		if f == nil {
			t.Fatalf("%s: no symbols", path)
		}
		n, _ := f(pc + 4)
		return n
	}
	if got, want := name(exe), "github.com/gokvm/gokvm/e2e/kprofile.TestExeSymbols"; got != want {
		t.Errorf("with a symbol table: %q, want %q", got, want)
	}
	stripped := filepath.Join(t.TempDir(), "stripped")
	cmd := exec.Command("objcopy", "--strip-all", exe, stripped)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	if got, want := name(stripped), "github.com/gokvm/gokvm/e2e/kprofile.TestExeSymbols"; got != want {
		t.Errorf("from .gopclntab: %q, want %q", got, want)
	}
	if exeSymbols(filepath.Join(t.TempDir(), "none")) != nil {
		t.Error("a missing file has symbols")
	}
}
