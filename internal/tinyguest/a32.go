package tinyguest

import "fmt"

// AArch32 (A32) encodings, for flat payloads a 32-bit guest (--aarch32)
// boots: only what those payloads use; each is checked against LLVM's
// assembler in encode_test.go. A32 instructions are 32-bit little-endian
// words like A64's, so Asm32 collects them the same way.

// PSCI 0.2 function ids of the SMC32 calling convention, which an AArch32
// guest uses (hvc #0 with the id in r0).
const (
	PSCI32CPUOn = 0x84000003 // r1 target MPIDR, r2 entry, r3 context
)

// A32HVC0 is hvc #0.
const A32HVC0 uint32 = 0xe1400070

func reg32(r Reg) uint32 {
	if r > 15 {
		panic(fmt.Sprintf("tinyguest: no A32 register r%d", r))
	}
	return uint32(r)
}

func imm12a32(imm uint32) uint32 {
	if imm > 0xfff {
		panic(fmt.Sprintf("tinyguest: A32 offset %#x does not fit in 12 bits", imm))
	}
	return imm
}

// A32Movw is movw rd, #imm: rd = imm, the upper half cleared.
func A32Movw(rd Reg, imm uint16) uint32 {
	return 0xe3000000 | uint32(imm>>12)<<16 | reg32(rd)<<12 | uint32(imm&0xfff)
}

// A32Movt is movt rd, #imm: the upper half of rd = imm.
func A32Movt(rd Reg, imm uint16) uint32 {
	return 0xe3400000 | uint32(imm>>12)<<16 | reg32(rd)<<12 | uint32(imm&0xfff)
}

// A32Strb is strb rt, [rn, #off].
func A32Strb(rt, rn Reg, off uint32) uint32 {
	return 0xe5c00000 | reg32(rn)<<16 | reg32(rt)<<12 | imm12a32(off)
}

// A32Ldr is ldr rt, [rn, #off]: a 4-byte load.
func A32Ldr(rt, rn Reg, off uint32) uint32 {
	return 0xe5900000 | reg32(rn)<<16 | reg32(rt)<<12 | imm12a32(off)
}

// A32Cmp is cmp rn, rm.
func A32Cmp(rn, rm Reg) uint32 { return 0xe1500000 | reg32(rn)<<16 | reg32(rm) }

// A32Add is add rd, rn, rm.
func A32Add(rd, rn, rm Reg) uint32 {
	return 0xe0800000 | reg32(rn)<<16 | reg32(rd)<<12 | reg32(rm)
}

// A32Here is sub rd, pc, #8: the address of this very instruction (the
// pc an A32 instruction reads is its own address + 8), so code can find
// where it was loaded.
func A32Here(rd Reg) uint32 { return 0xe24f0008 | reg32(rd)<<12 }

// A32B is b<c> to off bytes from this instruction (A32's condition
// codes are A64's); A32B(AL, 0) is "b .".
func A32B(c Cond, off int64) uint32 {
	return uint32(c&0xf)<<28 | 0x0a000000 | branch(off-8, 24)
}

// Asm32 collects A32 instructions with labels.
type Asm32 struct{ a Asm }

// Word appends encoded instructions (or data words).
func (a *Asm32) Word(w ...uint32) *Asm32 { a.a.Word(w...); return a }

// Label names the next instruction's position.
func (a *Asm32) Label(name string) *Asm32 { a.a.Label(name); return a }

// B branches to label when c holds.
func (a *Asm32) B(c Cond, label string) *Asm32 {
	a.a.ref(label, func(off int64) uint32 { return A32B(c, off) })
	return a
}

// Spin is "b .".
func (a *Asm32) Spin() *Asm32 { return a.Word(A32B(AL, 0)) }

// Mov loads a 32-bit constant into rd (movw, then movt when the upper
// half is not zero).
func (a *Asm32) Mov(rd Reg, v uint32) *Asm32 {
	a.Word(A32Movw(rd, uint16(v)))
	if v>>16 != 0 {
		a.Word(A32Movt(rd, uint16(v>>16)))
	}
	return a
}

// PSCI calls PSCI function fn through hvc #0; r1..r3 are the caller's
// arguments, r0 holds the result.
func (a *Asm32) PSCI(fn uint32) *Asm32 { return a.Mov(0, fn).Word(A32HVC0) }

// Print writes s to a 16550 UART whose base address is in rbase, a byte
// at a time through rtmp.
func (a *Asm32) Print(base, tmp Reg, s string) *Asm32 {
	for i := 0; i < len(s); i++ {
		a.Word(A32Movw(tmp, uint16(s[i])), A32Strb(tmp, base, 0))
	}
	return a
}

// Offset is where label is, in bytes from the start of the code.
func (a *Asm32) Offset(label string) uint64 { return a.a.Offset(label) }

// Code resolves the labels and returns the little-endian machine code.
func (a *Asm32) Code() ([]byte, error) { return a.a.Code() }
