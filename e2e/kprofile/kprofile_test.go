package kprofile

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/symbols"
	"golang.org/x/sys/unix"
)

// record lays out one perf record: header, then the 64-bit words.
func record(typ uint32, words ...uint64) []byte { return recordMisc(typ, 0, words...) }

// recordMisc is record with the header's misc field.
func recordMisc(typ uint32, misc uint16, words ...uint64) []byte {
	b := make([]byte, 8+8*len(words))
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint16(b[4:], misc)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(b)))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8+8*i:], w)
	}
	return b
}

// tid packs a sample's pid and tid word.
func tid(pid, tid uint32) uint64 { return uint64(tid)<<32 | uint64(pid) }

const (
	contextKernel = ^uint64(127)  // PERF_CONTEXT_KERNEL, (u64)-128
	contextUser   = ^uint64(511)  // PERF_CONTEXT_USER, (u64)-512
	contextGuest  = ^uint64(2047) // PERF_CONTEXT_GUEST, (u64)-2048
)

func TestParse(t *testing.T) {
	var b []byte
	// Every context marker is skipped, not only those parse acts on.
	b = append(b, record(unix.PERF_RECORD_SAMPLE, 0xa0, tid(10, 11), 6, contextKernel, 0xa0, contextGuest, 0xb0, contextUser, 0x40)...)
	b = append(b, record(unix.PERF_RECORD_LOST, 7, 5)...)
	b = append(b, record(unix.PERF_RECORD_MMAP, 1, 2, 3)...) // skipped
	// A host sample whose chain the kernel could not record keeps its ip.
	b = append(b, recordMisc(unix.PERF_RECORD_SAMPLE, 1, 0xc0, tid(20, 20), 2, contextUser, 0x50)...)
	// The header says a guest's: its ip is the guest's pc.
	b = append(b, recordMisc(unix.PERF_RECORD_SAMPLE, 4, 0xd0, tid(30, 31), 1, contextKernel)...)
	b = append(b, recordMisc(unix.PERF_RECORD_SAMPLE, 5, 0xe0, tid(30, 31), 0)...)
	got, lost, err := parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{
		{10, 11, []uint64{0xa0, 0xb0}, []uint64{0x40}, false},
		{20, 20, []uint64{0xc0}, []uint64{0x50}, false},
		{30, 31, []uint64{0xd0}, nil, true},
		{30, 31, []uint64{0xe0}, nil, true},
	}
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
	defer func() { p.user = nil }()
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
	got := p.fold("vcpu", sample{chain: deep})
	if n := strings.Count(got, ";"); n != maxFrames || !strings.HasSuffix(got, ";leaf") {
		t.Errorf("fold of %d frames = %q: want %d frames ending in leaf", len(deep), got, maxFrames)
	}
	// A deep user chain keeps the frames nearest the system call.
	var user []uint64
	for a := uint64(0x100); len(user) < maxUserFrames+3; a++ {
		user = append(user, a)
	}
	got = p.fold("vcpu", sample{chain: []uint64{0x1210}, user: user})
	want := "vcpu"
	for i := maxUserFrames - 1; i >= 0; i-- {
		want += fmt.Sprintf(";%#x", user[i])
	}
	if want += ";leaf"; got != want {
		t.Errorf("fold of %d user frames = %q, want %q", len(user), got, want)
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
	// An address inside the function, as a return address would be.
	pc := uint64(reflect.ValueOf(TestExeSymbols).Pointer())
	name := func(path string) string {
		f, c := exeSymbols(path)
		if f == nil {
			t.Fatalf("%s: no symbols", path)
		}
		if c != nil {
			defer c.Close()
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
	if f, _ := exeSymbols(filepath.Join(t.TempDir(), "none")); f != nil {
		t.Error("a missing file has symbols")
	}
}

// TestTake: a take returns the bytes from the tail the reader left to the
// kernel's head, across the end of the buffer, and hands them back.
func TestTake(t *testing.T) {
	page := os.Getpagesize()
	r := &ring{mem: make([]byte, page+16)}
	for i := 0; i < 16; i++ {
		r.mem[page+i] = byte('a' + i)
	}
	binary.LittleEndian.PutUint64(r.mem[dataHeadOff:], 36) // 2 laps and 4 bytes
	binary.LittleEndian.PutUint64(r.mem[dataTailOff:], 26)
	if got := string(r.take()); got != "klmnopabcd" {
		t.Errorf("take = %q, want klmnopabcd", got)
	}
	if tail := binary.LittleEndian.Uint64(r.mem[dataTailOff:]); tail != 36 {
		t.Errorf("tail after take = %d, want 36", tail)
	}
	if got := r.take(); len(got) != 0 {
		t.Errorf("second take = %q, want nothing", got)
	}
}

// TestThreadKind: a process's vcpu and other threads, a vhost worker
// serving it (a kernel thread of its own), another process's thread, and
// a thread that has ended.
func TestThreadKind(t *testing.T) {
	proc := t.TempDir()
	for tid, comm := range map[string]string{"11": "gokvm-vcpu0", "12": "gokvm", "40": "vhost-10", "50": "kvm-vcpu-0"} {
		if err := os.MkdirAll(filepath.Join(proc, tid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, tid, "comm"), []byte(comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		tgid, tid uint32
		want      string
	}{
		{10, 11, "vcpu"}, {10, 12, "other"}, {40, 40, "vhost"}, {50, 50, ""}, {10, 13, "other"}, {60, 61, ""},
	} {
		if got := threadKind(proc, 10, c.tgid, c.tid); got != c.want {
			t.Errorf("thread %d of %d: %q, want %q", c.tid, c.tgid, got, c.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if want := []int{0, 1, 2, 5, 7, 8}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseCPUList = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "0-", "0-70000"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRingPages(t *testing.T) {
	n := ringPages()
	if n < 1 || n&(n-1) != 0 || n*os.Getpagesize() > ringBytes {
		t.Errorf("ringPages = %d, want a power of two within %d bytes", n, ringBytes)
	}
}
