package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/symbols"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// TraceRegs are the registers a backtrace reads from a vcpu.
type TraceRegs struct {
	PC, PSTATE, LR, FP uint64
	// SPEL0 and SPEL1 are both read; PSTATE says which is in use.
	SPEL0, SPEL1 uint64
	MMU          MMU
	VBAR         uint64
}

// ReadTraceRegs reads a vcpu's TraceRegs; call it on the vcpu's thread,
// between two KVM_RUNs, as DescribeVcpu is.
func ReadTraceRegs(v *kvm.Vcpu) (TraceRegs, error) {
	var r TraceRegs
	for _, x := range []struct {
		name string
		id   uint64
		to   *uint64
	}{
		{"pc", RegPC, &r.PC}, {"pstate", RegPSTATE, &r.PSTATE},
		{"lr", RegX(30), &r.LR}, {"fp", RegX(29), &r.FP},
		{"SP_EL0", RegSPEL0, &r.SPEL0}, {"SP_EL1", RegSPEL1, &r.SPEL1},
		{"SCTLR_EL1", RegSCTLREL1, &r.MMU.SCTLR}, {"TCR_EL1", RegTCREL1, &r.MMU.TCR},
		{"TTBR0_EL1", RegTTBR0EL1, &r.MMU.TTBR0}, {"TTBR1_EL1", RegTTBR1EL1, &r.MMU.TTBR1},
		{"VBAR_EL1", RegVBAREL1, &r.VBAR},
	} {
		val, err := v.GetOneReg(x.id)
		if err != nil {
			return r, fmt.Errorf("reading %s: %w", x.name, err)
		}
		*x.to = val
	}
	return r, nil
}

// Backtrace says where an AArch64 vcpu is, with its guest kernel stack
// unwound through mem and symbolized with syms (nil: addresses only). It
// runs on the vcpu's thread, between two KVM_RUNs.
func (AArch64) Backtrace(v *kvm.Vcpu, mem PhysReader, syms *symbols.Table) VcpuTrace {
	r, err := ReadTraceRegs(v)
	if err != nil {
		return VcpuTrace{Vcpu: v.ID, Err: err.Error()}
	}
	return BuildTrace(v.ID, r, mem, syms)
}

// BacktraceVcpu is Backtrace for the board's guest; ok is false for an
// AArch32 guest, which keeps DescribeVcpu's registers.
func (b *Board) BacktraceVcpu(v *kvm.Vcpu, mem PhysReader, syms *symbols.Table) (t VcpuTrace, ok bool) {
	g, ok := b.guest.(AArch64)
	if !ok {
		return VcpuTrace{}, false
	}
	return g.Backtrace(v, mem, syms), true
}

// PSTATE fields beyond the mode and the interrupt masks.
const psrNRW = 1 << 4 // AArch32 state

// BuildTrace is Backtrace's pure part: from the registers, it
// symbolizes pc, unwinds the kernel's frame records from x29 and
// symbolizes their return addresses. Only EL1 is unwound: EL0 (user
// space, AArch64 or AArch32) is reported as such, and EL2 (a nested
// hypervisor, with its own registers) by its pc alone.
//
// lr is listed after pc when it may be the caller of pc's function: a
// leaf function, or one interrupted before its prologue pushed a frame,
// has its caller in lr and not in a record. It is left out when it is
// the first record's return address (the function did push its frame),
// and, with symbols, when it points into pc's own function (a call the
// function made since, whose return address lr still holds).
//
// Return addresses are symbolized at the call (the address minus 4, the
// bl before it, so that a call ending a function names that function)
// but printed with their own offset, as the kernel prints them.
func BuildTrace(vcpu int, r TraceRegs, mem PhysReader, syms *symbols.Table) VcpuTrace {
	t := VcpuTrace{
		Vcpu: vcpu, PC: Addr(r.PC), FP: Addr(r.FP),
		IRQsMasked: r.PSTATE&psrI != 0,
	}
	mode := r.PSTATE & 0xf
	if r.PSTATE&psrNRW != 0 {
		t.Mode, t.User = "AArch32 user", true
	} else if m, ok := aarch64Modes[mode]; ok {
		t.Mode, t.User = m, mode == 0
	} else {
		t.Mode = fmt.Sprintf("mode %#x", mode)
	}
	t.SP = Addr(r.SPEL0)
	if mode == 5 && r.PSTATE&psrNRW == 0 { // EL1h runs on SP_EL1
		t.SP = Addr(r.SPEL1)
	}
	strip := pacStripper(r.MMU)
	t.LR = Addr(strip(r.LR))
	if t.User {
		return t
	}
	if syms != nil {
		if slide, ok := KASLRSlide(syms, r.VBAR); ok {
			syms = syms.WithOffset(slide)
			t.Slide = Addr(slide)
		} else {
			t.Notes = append(t.Notes, fmt.Sprintf("symbols not slid: VBAR_EL1=%#x is not a vector table of the symbol file, so KASLR's slide is unknown", r.VBAR))
		}
	}
	t.Frames = append(t.Frames, symbolize(syms, FramePC, r.PC, false))
	if mode != 4 && mode != 5 {
		t.Stop = "not at EL1: not unwound"
		return t
	}
	rets, err := Unwind(GuestVirt{MMU: r.MMU, Mem: mem}, r.FP)
	for i := range rets {
		rets[i] = strip(rets[i])
	}
	if lr := uint64(t.LR); lr != 0 && (len(rets) == 0 || rets[0] != lr) && !sameFunction(syms, r.PC, lr) {
		t.Frames = append(t.Frames, symbolize(syms, FrameLR, lr, true))
	}
	for _, ra := range rets {
		t.Frames = append(t.Frames, symbolize(syms, FrameReturn, ra, true))
	}
	if err != nil {
		t.Stop = err.Error()
	}
	return t
}

// symbolize makes a Frame of addr; a return address is looked up at its
// call (addr-4) and keeps its own offset.
func symbolize(syms *symbols.Table, kind FrameKind, addr uint64, ret bool) Frame {
	f := Frame{Kind: kind, Addr: Addr(addr)}
	if syms == nil {
		return f
	}
	at := addr
	if ret {
		at -= 4
	}
	if s, ok := syms.Lookup(at); ok {
		s.Offset = addr - s.Addr
		f.Symbol = s.String()
	}
	if file, line, ok := syms.Line(at); ok {
		f.File, f.Line = file, line
	}
	return f
}

// sameFunction reports whether return address lr points into pc's
// function; false without symbols, where it cannot be told.
func sameFunction(syms *symbols.Table, pc, lr uint64) bool {
	if syms == nil {
		return false
	}
	a, ok1 := syms.Lookup(pc)
	b, ok2 := syms.Lookup(lr - 4)
	return ok1 && ok2 && a.Addr == b.Addr
}

// pacStripper returns what takes a pointer-authentication code out of a
// code address, as the kernel's ptrauth_strip_insn_pac does: the bits
// above the virtual address size become copies of bit 55 (ones for the
// kernel's half, zeros for user space). With the MMU off, addresses are
// left alone.
func pacStripper(m MMU) func(uint64) uint64 {
	if m.SCTLR&sctlrM == 0 {
		return func(a uint64) uint64 { return a }
	}
	vaBits := func(txsz uint64) uint {
		if txsz < 16 || txsz > 48 {
			return 48 // unusable TxSZ: the walk refuses it; strip as for 48 bits
		}
		return uint(64 - txsz)
	}
	hi, lo := vaBits(m.TCR>>16&0x3f), vaBits(m.TCR&0x3f)
	return func(a uint64) uint64 {
		if a>>55&1 == 1 {
			return a | ^uint64(0)<<hi
		}
		return a & (1<<lo - 1)
	}
}

// vectorTables are the symbols VBAR_EL1 points into while the kernel
// runs: its vectors, or with the Spectre-BHB mitigation (5.17 and later)
// one of the 2 KiB tables of __bp_harden_el1_vectors.
var vectorTables = []string{"vectors", "__bp_harden_el1_vectors"}

// kaslrAlign is the alignment of the kernel's KASLR slide: arm64 moves
// the kernel in 2 MiB steps (MIN_KIMG_ALIGN), and gokvm loads it
// 2 MiB-aligned as booting.rst asks.
const kaslrAlign = 2 << 20

// KASLRSlide computes the guest kernel's KASLR slide from VBAR_EL1: the
// 2 MiB-aligned slide that puts VBAR_EL1 within one of the vector tables
// of syms (the table's own offset aside). ok is false when VBAR_EL1 is
// not a kernel address (not yet set at early boot) or fits no vector
// table (another kernel's symbols); the slide is 0 for a kernel that
// was not moved.
func KASLRSlide(syms *symbols.Table, vbar uint64) (slide uint64, ok bool) {
	if syms == nil || vbar>>55&1 == 0 {
		return 0, false
	}
	for _, name := range vectorTables {
		s, found := syms.Find(name)
		if !found {
			continue
		}
		d := vbar - (s.Addr - syms.Offset()) // from the link address
		if aligned := d &^ (kaslrAlign - 1); d-aligned < max(s.Size, 0x800) {
			return aligned, true
		}
	}
	return 0, false
}
