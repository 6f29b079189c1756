package arm64

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/symbols"
)

// A kernel's System.map, in link addresses.
const traceMap = `ffff800008000000 T _text
ffff800008010000 T vectors
ffff800008010800 T __bp_harden_el1_vectors
ffff800008012000 T default_idle_call
ffff800008012050 T do_idle
ffff8000080122f0 T cpu_startup_entry
ffff800008012340 T rest_init
ffff800008012400 T arch_cpu_idle
ffff800008012420 T _etext
`

const (
	slide     = 0x3a0_0000 // a KASLR slide, 2 MiB aligned
	stackVA   = 0xffff_8000_0a00_4000
	stackTop  = stackVA + 0x4000
	linkText  = 0xffff_8000_0800_0000
	runIdle   = 0xffff_8000_0801_202c + slide // default_idle_call+0x2c
	retDoIdle = 0xffff_8000_0801_21f0 + slide // do_idle+0x1a0
	retStart  = 0xffff_8000_0801_2320 + slide // cpu_startup_entry+0x30
	retRest   = 0xffff_8000_0801_2364 + slide // rest_init+0x24
	pacBits   = 0x007f_0000_0000_0000         // a PAC in a kernel address's top bits
)

func loadMap(t *testing.T) *symbols.Table {
	t.Helper()
	p := filepath.Join(t.TempDir(), "System.map")
	if err := os.WriteFile(p, []byte(traceMap), 0o644); err != nil {
		t.Fatal(err)
	}
	syms, err := symbols.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syms.Close() })
	return syms
}

// traceGuest is a guest with 4K/48-bit tables, its stack's 16 KiB mapped
// at stackVA and a frame record chain on it; it returns the registers of
// a vcpu in default_idle_call.
func traceGuest(t *testing.T) (*tables, TraceRegs) {
	b := newTables(t, layouts[0], 64<<10)
	r1 := b.alloc()
	stack := b.alloc() // four contiguous pages, then their tables
	for i := 0; i < 3; i++ {
		b.alloc()
	}
	for i := uint64(0); i < 4; i++ {
		b.mapAt(r1, stackVA+i*4096, stack+i*4096, 3)
	}
	rec := func(va, next, ret uint64) {
		b.put64(stack+va-stackVA, next)
		b.put64(stack+va-stackVA+8, ret)
	}
	rec(stackTop-0x200, stackTop-0x100, retDoIdle|pacBits)
	rec(stackTop-0x100, stackTop-0x40, retStart)
	rec(stackTop-0x40, stackTop-0x10, retRest)
	rec(stackTop-0x10, 0, 0) // the final record
	return b, TraceRegs{
		PC: runIdle, PSTATE: psrModeEL1h, FP: stackTop - 0x200,
		// pc's caller, as a leaf that pushed no frame leaves it; signed.
		LR:    (0xffff_8000_0801_2404 + slide) | pacBits,
		SPEL1: stackTop - 0x220, SPEL0: 0xffff_0000_1234,
		MMU:  MMU{SCTLR: sctlrM, TCR: layouts[0].tcr(), TTBR1: r1},
		VBAR: 0xffff_8000_0801_0000 + slide,
	}
}

func TestBuildTrace(t *testing.T) {
	b, r := traceGuest(t)
	tr := BuildTrace(2, r, b.mem, loadMap(t))
	want := []Frame{
		{Kind: FramePC, Addr: runIdle, Symbol: "default_idle_call+0x2c/0x50"},
		{Kind: FrameLR, Addr: 0xffff_8000_0801_2404 + slide, Symbol: "arch_cpu_idle+0x4/0x20"},
		{Kind: FrameReturn, Addr: retDoIdle, Symbol: "do_idle+0x1a0/0x2a0"},
		{Kind: FrameReturn, Addr: retStart, Symbol: "cpu_startup_entry+0x30/0x50"},
		{Kind: FrameReturn, Addr: retRest, Symbol: "rest_init+0x24/0xc0"},
	}
	if !reflect.DeepEqual(tr.Frames, want) || tr.Stop != "" || tr.Slide != slide || tr.SP != stackTop-0x220 || tr.Mode != "EL1h" {
		t.Errorf("BuildTrace = %+v\nwant frames %+v", tr, want)
	}
	text := tr.String()
	wantText := fmt.Sprintf(`vcpu 2: pc=%016x default_idle_call+0x2c/0x50 [EL1h, irqs on]
  lr %016x arch_cpu_idle+0x4/0x20
  #1 %016x do_idle+0x1a0/0x2a0
  #2 %016x cpu_startup_entry+0x30/0x50
  #3 %016x rest_init+0x24/0xc0`, uint64(runIdle), want[1].Addr, uint64(retDoIdle), uint64(retStart), uint64(retRest))
	if text != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text, wantText)
	}
	// JSON: addresses as hex strings, and back.
	j, err := json.Marshal(tr)
	if err != nil || !strings.Contains(string(j), fmt.Sprintf(`"addr":"%#x"`, uint64(runIdle))) {
		t.Fatalf("JSON %s, %v", j, err)
	}
	var back VcpuTrace
	if err := json.Unmarshal(j, &back); err != nil || !reflect.DeepEqual(back, tr) {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
}

func TestBuildTraceLR(t *testing.T) {
	b, r := traceGuest(t)
	syms := loadMap(t)
	// lr is the first record's return address: the function pushed its
	// frame; lr is not listed twice.
	r.LR = retDoIdle
	if tr := BuildTrace(0, r, b.mem, syms); tr.Frames[1].Kind != FrameReturn {
		t.Errorf("lr equal to #1 was listed: %+v", tr.Frames)
	}
	// lr points into pc's own function: a call it made since.
	r.LR = runIdle + 8
	if tr := BuildTrace(0, r, b.mem, syms); tr.Frames[1].Kind != FrameReturn {
		t.Errorf("lr within pc's function was listed: %+v", tr.Frames)
	}
	// Without symbols that cannot be told: lr is listed.
	if tr := BuildTrace(0, r, b.mem, nil); tr.Frames[1].Kind != FrameLR || tr.Frames[1].Symbol != "" {
		t.Errorf("no symbols: %+v", tr.Frames)
	}
}

func TestBuildTraceNoSymbols(t *testing.T) {
	b, r := traceGuest(t)
	tr := BuildTrace(0, r, b.mem, nil)
	if len(tr.Frames) != 5 || tr.Frames[2].Addr != retDoIdle || tr.Frames[2].Symbol != "" {
		t.Errorf("frames %+v", tr.Frames)
	}
	if want := fmt.Sprintf("vcpu 0: pc=%016x [EL1h, irqs on]\n  lr %016x\n  #1 %016x\n", uint64(runIdle), tr.Frames[1].Addr, uint64(retDoIdle)); !strings.HasPrefix(tr.String(), want) {
		t.Errorf("text:\n%s", tr)
	}
}

func TestBuildTraceUnslid(t *testing.T) {
	b, r := traceGuest(t)
	r.VBAR = 0 // not set yet
	tr := BuildTrace(0, r, b.mem, loadMap(t))
	if len(tr.Notes) != 1 || !strings.Contains(tr.Notes[0], "not slid") || tr.Frames[0].Symbol != "" {
		t.Errorf("trace %+v", tr)
	}
	// VBAR_EL1 in the second Spectre-BHB table gives the slide too.
	r.VBAR = 0xffff_8000_0801_1000 + slide
	if tr := BuildTrace(0, r, b.mem, loadMap(t)); tr.Slide != slide || tr.Frames[0].Symbol == "" {
		t.Errorf("VBAR in __bp_harden_el1_vectors: %+v", tr)
	}
}

func TestBuildTraceUserAndStops(t *testing.T) {
	b, r := traceGuest(t)
	syms := loadMap(t)
	u := r
	u.PSTATE, u.PC = 0, 0xaaaa_0000_1234 // EL0t
	tr := BuildTrace(1, u, b.mem, syms)
	if !tr.User || len(tr.Frames) != 0 || tr.String() != "vcpu 1: pc=0000aaaa00001234 in user space [EL0t, irqs on]" {
		t.Errorf("EL0: %q %+v", tr, tr)
	}
	u.PSTATE = 0x10 | psrI // AArch32 user
	if tr := BuildTrace(1, u, b.mem, syms); !tr.User || !strings.Contains(tr.String(), "in user space [AArch32 user, irqs masked]") {
		t.Errorf("AArch32 EL0: %q", tr)
	}
	// A frame pointer off the mapped stack: pc and lr, and why it stopped.
	r.FP = stackVA - 0x1000
	tr = BuildTrace(0, r, b.mem, syms)
	if len(tr.Frames) != 2 || !strings.Contains(tr.Stop, "not mapped") || !strings.HasSuffix(tr.String(), "\n  (unwind stopped: "+tr.Stop+")") {
		t.Errorf("fp unmapped: %q", tr)
	}
}

func FuzzBacktrace(f *testing.F) {
	f.Add(uint64(psrModeEL1h), uint64(stackTop-0x200), uint64(runIdle), uint64(0xffff_8000_0801_0000+slide), layouts[0].tcr(), uint64(0), uint64(0))
	syms := func() *symbols.Table {
		p := filepath.Join(f.TempDir(), "System.map")
		if err := os.WriteFile(p, []byte(traceMap), 0o644); err != nil {
			f.Fatal(err)
		}
		s, err := symbols.Load(p)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}()
	f.Fuzz(func(t *testing.T, pstate, fp, pc, vbar, tcr, lr uint64, ram uint64) {
		b, r := traceGuest(t)
		// Scribble a word of the fuzzer's into the tables or stack.
		b.put64(testRAMBase+ram%uint64(len(b.ram)-8)&^7, lr^ram)
		r.PSTATE, r.FP, r.PC, r.VBAR, r.MMU.TCR, r.LR = pstate, fp, pc, vbar, tcr, lr
		tr := BuildTrace(0, r, b.mem, syms)
		if len(tr.Frames) > MaxUnwindDepth+2 {
			t.Fatalf("%d frames", len(tr.Frames))
		}
		_ = tr.String()
	})
}

// TestTraceStack: what DescribeVcpu adds to the register line: pc's
// symbol when known, then the lines after Describe's first; nothing for
// user space or a trace that failed.
func TestTraceStack(t *testing.T) {
	b, r := traceGuest(t)
	tr := BuildTrace(0, r, b.mem, loadMap(t))
	want := fmt.Sprintf("\n  pc %016x default_idle_call+0x2c/0x50", uint64(runIdle)) + strings.TrimPrefix(tr.Describe(), strings.SplitN(tr.Describe(), "\n", 2)[0])
	if got := tr.Stack(); got != want || !strings.Contains(got, "\n  #3 ") {
		t.Errorf("Stack:\n%q\nwant\n%q", got, want)
	}
	// Without symbols, pc is not repeated: the register line has it.
	bare := BuildTrace(0, r, b.mem, nil)
	if got := bare.Stack(); !strings.HasPrefix(got, fmt.Sprintf("\n  lr %016x\n  #1 %016x", bare.Frames[1].Addr, uint64(retDoIdle))) {
		t.Errorf("Stack without symbols: %q", got)
	}
	u := r
	u.PSTATE = 0
	if got := BuildTrace(0, u, b.mem, nil).Stack(); got != "" {
		t.Errorf("user space: %q", got)
	}
	if got := (VcpuTrace{Err: "reading pc: EINVAL"}).Stack(); got != "" {
		t.Errorf("failed: %q", got)
	}
}
