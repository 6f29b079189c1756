package arm64

import (
	"fmt"
	"strconv"
	"strings"
)

// VcpuTrace is where a vcpu is, for a hang report: its mode, registers
// and guest kernel stack, symbolized where a symbol table was given. It
// encodes to JSON for a results file; String gives the text block.
type VcpuTrace struct {
	Vcpu int `json:"vcpu"`
	// Mode is PSTATE's mode: EL1h, EL0t, "AArch32 user"...
	Mode string `json:"mode,omitempty"`
	// User is set when the vcpu runs user space: its pc is not
	// symbolized and its stack not unwound.
	User       bool `json:"user,omitempty"`
	IRQsMasked bool `json:"irqs_masked"`
	PC         Addr `json:"pc"`
	LR         Addr `json:"lr"`
	SP         Addr `json:"sp"`
	FP         Addr `json:"fp"`
	// Frames are the pc, then lr when it may be the caller (see
	// BuildTrace), then the return addresses of the frame records.
	Frames []Frame `json:"frames,omitempty"`
	// Slide is the KASLR slide applied to the symbols.
	Slide Addr `json:"kaslr_slide,omitempty"`
	// Stop says why the unwind ended before the stack's final record.
	Stop string `json:"stop,omitempty"`
	// Notes are other things worth knowing (symbols not slid, say).
	Notes []string `json:"notes,omitempty"`
	// Err is set when the registers could not be read.
	Err string `json:"error,omitempty"`
}

// FrameKind says where a frame's address came from.
type FrameKind string

const (
	FramePC     FrameKind = "pc"
	FrameLR     FrameKind = "lr"
	FrameReturn FrameKind = "return"
)

// Frame is one address of a backtrace.
type Frame struct {
	Kind FrameKind `json:"kind"`
	Addr Addr      `json:"addr"`
	// Symbol is name+offset/size, as the kernel prints it; empty
	// without a symbol table or when no symbol holds Addr.
	Symbol string `json:"symbol,omitempty"`
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
}

// Addr is a guest address; it encodes to JSON as a hex string, since
// kernel addresses do not fit a JSON number's 53 bits.
type Addr uint64

// MarshalText implements encoding.TextMarshaler.
func (a Addr) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%#x", uint64(a))), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Addr) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 0, 64)
	if err != nil {
		return fmt.Errorf("address %q: %w", b, err)
	}
	*a = Addr(v)
	return nil
}

// String is the text block: "vcpu 0: " and Describe.
func (t VcpuTrace) String() string { return fmt.Sprintf("vcpu %d: %s", t.Vcpu, t.Describe()) }

// Describe is the text block without the vcpu's number, for a dump line
// that already has it:
//
//	pc=ffff80000812abcd default_idle_call+0x2c/0x50 (kernel/sched/idle.c:97) [EL1h, irqs on]
//	  lr ffff800008123450 do_idle+0x1a0/0x2a0 (kernel/sched/idle.c:300)
//	  #1 ffff800008123450 do_idle+0x1a0/0x2a0 (kernel/sched/idle.c:300)
//	  (unwind stopped: ...)
func (t VcpuTrace) Describe() string {
	if t.Err != "" {
		return t.Err
	}
	irqs := "irqs on"
	if t.IRQsMasked {
		irqs = "irqs masked"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pc=%016x", uint64(t.PC))
	switch {
	case t.User:
		fmt.Fprintf(&b, " in user space [%s, %s]", t.Mode, irqs)
	case len(t.Frames) > 0:
		b.WriteString(t.Frames[0].where())
		fmt.Fprintf(&b, " [%s, %s]", t.Mode, irqs)
	default:
		fmt.Fprintf(&b, " [%s, %s]", t.Mode, irqs)
	}
	t.writeStack(&b)
	return b.String()
}

// Stack is what the trace adds to a register dump's line (the board's
// DescribeVcpu): a line naming pc's symbol when it has one, then
// Describe's lines after its first, each starting with a newline.
func (t VcpuTrace) Stack() string {
	if t.Err != "" || t.User {
		return ""
	}
	var b strings.Builder
	if len(t.Frames) > 0 && t.Frames[0].Kind == FramePC {
		if w := t.Frames[0].where(); w != "" {
			fmt.Fprintf(&b, "\n  pc %016x%s", uint64(t.Frames[0].Addr), w)
		}
	}
	t.writeStack(&b)
	return b.String()
}

// writeStack writes the lines after Describe's first: lr, the return
// addresses, why the unwind stopped, the notes.
func (t VcpuTrace) writeStack(b *strings.Builder) {
	n := 0
	for i, f := range t.Frames {
		switch {
		case i == 0 && f.Kind == FramePC:
			continue
		case f.Kind == FrameLR:
			fmt.Fprintf(b, "\n  lr %016x%s", uint64(f.Addr), f.where())
		default:
			n++
			fmt.Fprintf(b, "\n  #%d %016x%s", n, uint64(f.Addr), f.where())
		}
	}
	if t.Stop != "" {
		fmt.Fprintf(b, "\n  (unwind stopped: %s)", t.Stop)
	}
	for _, note := range t.Notes {
		fmt.Fprintf(b, "\n  (%s)", note)
	}
}

// where is " symbol (file:line)", or less as known.
func (f Frame) where() string {
	s := ""
	if f.Symbol != "" {
		s = " " + f.Symbol
	}
	if f.File != "" {
		s += fmt.Sprintf(" (%s:%d)", f.File, f.Line)
	}
	return s
}
