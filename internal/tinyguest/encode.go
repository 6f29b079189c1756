// Package tinyguest assembles tiny AArch64 guests for KVM-level tests of
// the VM core: a handful of instructions (an MMIO store, a PSCI call
// through hvc, a loop) wrapped in an arm64 Image header, so a test can run
// a real vcpu through every outcome in milliseconds instead of booting
// Linux; and flat payloads, AArch64 and A32, that check the entry state
// kvmtool gives a file without a kernel header (hello.go). It encodes only
// what those tests use; each encoding is checked against GNU as (A64) or
// LLVM's assembler (A32) in encode_test.go.
package tinyguest

import "fmt"

// Reg is a general-purpose register number. Its width (w or x) is the
// instruction's; 31 is the zero register where an instruction reads one.
type Reg uint32

// XZR is register 31 where it means the zero register.
const XZR Reg = 31

// Cond is a condition code of b.cond.
type Cond uint32

// Condition codes (ARM ARM C1.2.4) used after a compare.
const (
	EQ Cond = 0x0
	NE Cond = 0x1
	HS Cond = 0x2 // unsigned >=
	LO Cond = 0x3 // unsigned <
	AL Cond = 0xe // always (A32's unconditional instructions)
)

// Fixed instructions.
const (
	HVC0 uint32 = 0xd4000002 // hvc #0: the PSCI conduit of a mach-virt guest
	WFI  uint32 = 0xd503207f
	NOP  uint32 = 0xd503201f
)

func reg(r Reg) uint32 {
	if r > 31 {
		panic(fmt.Sprintf("tinyguest: no register %d", r))
	}
	return uint32(r)
}

// Movz is movz xd, #imm, lsl #shift (shift 0, 16, 32 or 48).
func Movz(rd Reg, imm uint16, shift uint) uint32 {
	return 0xd2800000 | hw(shift)<<21 | uint32(imm)<<5 | reg(rd)
}

// Movk is movk xd, #imm, lsl #shift: it keeps the other bits of xd.
func Movk(rd Reg, imm uint16, shift uint) uint32 {
	return 0xf2800000 | hw(shift)<<21 | uint32(imm)<<5 | reg(rd)
}

func hw(shift uint) uint32 {
	if shift%16 != 0 || shift > 48 {
		panic(fmt.Sprintf("tinyguest: movz/movk shift %d is not 0, 16, 32 or 48", shift))
	}
	return uint32(shift / 16)
}

// scaled checks an unsigned, size-scaled 12-bit load/store offset.
func scaled(off, size uint32) uint32 {
	if off%size != 0 || off/size > 0xfff {
		panic(fmt.Sprintf("tinyguest: offset %#x is not a multiple of %d below %#x", off, size, 0x1000*size))
	}
	return off / size
}

// StrW is str wt, [xn, #off]: a 4-byte store.
func StrW(rt, rn Reg, off uint32) uint32 {
	return 0xb9000000 | scaled(off, 4)<<10 | reg(rn)<<5 | reg(rt)
}

// StrX is str xt, [xn, #off]: an 8-byte store.
func StrX(rt, rn Reg, off uint32) uint32 {
	return 0xf9000000 | scaled(off, 8)<<10 | reg(rn)<<5 | reg(rt)
}

// StrB is strb wt, [xn, #off]: a 1-byte store (a 16550's registers are
// bytes).
func StrB(rt, rn Reg, off uint32) uint32 {
	return 0x39000000 | scaled(off, 1)<<10 | reg(rn)<<5 | reg(rt)
}

// LdrW is ldr wt, [xn, #off]: a 4-byte load, zero-extended.
func LdrW(rt, rn Reg, off uint32) uint32 {
	return 0xb9400000 | scaled(off, 4)<<10 | reg(rn)<<5 | reg(rt)
}

// LdrB is ldrb wt, [xn, #off]: a 1-byte load, zero-extended.
func LdrB(rt, rn Reg, off uint32) uint32 {
	return 0x39400000 | scaled(off, 1)<<10 | reg(rn)<<5 | reg(rt)
}

// LdrX is ldr xt, [xn, #off]: an 8-byte load.
func LdrX(rt, rn Reg, off uint32) uint32 {
	return 0xf9400000 | scaled(off, 8)<<10 | reg(rn)<<5 | reg(rt)
}

// Ldp is ldp xt1, xt2, [xn]. A load pair to device memory gives KVM no
// syndrome to decode it with, so it is how a test makes an MMIO access
// KVM cannot emulate.
func Ldp(rt1, rt2, rn Reg) uint32 {
	return 0xa9400000 | reg(rt2)<<10 | reg(rn)<<5 | reg(rt1)
}

func imm12(imm uint32) uint32 {
	if imm > 0xfff {
		panic(fmt.Sprintf("tinyguest: immediate %#x does not fit in 12 bits", imm))
	}
	return imm
}

// AddImm is add xd, xn, #imm.
func AddImm(rd, rn Reg, imm uint32) uint32 {
	return 0x91000000 | imm12(imm)<<10 | reg(rn)<<5 | reg(rd)
}

// SubImm is sub xd, xn, #imm.
func SubImm(rd, rn Reg, imm uint32) uint32 {
	return 0xd1000000 | imm12(imm)<<10 | reg(rn)<<5 | reg(rd)
}

// AddReg is add xd, xn, xm.
func AddReg(rd, rn, rm Reg) uint32 {
	return 0x8b000000 | reg(rm)<<16 | reg(rn)<<5 | reg(rd)
}

// CmpImm is cmp xn, #imm (subs xzr, xn, #imm).
func CmpImm(rn Reg, imm uint32) uint32 {
	return 0xf1000000 | imm12(imm)<<10 | reg(rn)<<5 | uint32(XZR)
}

// CmpReg is cmp xn, xm (subs xzr, xn, xm).
func CmpReg(rn, rm Reg) uint32 {
	return 0xeb000000 | reg(rm)<<16 | reg(rn)<<5 | uint32(XZR)
}

// MrsMPIDR is mrs xt, mpidr_el1: which vcpu the code runs on.
func MrsMPIDR(rt Reg) uint32 { return 0xd53800a0 | reg(rt) }

// HVC is hvc #imm.
func HVC(imm uint16) uint32 { return 0xd4000002 | uint32(imm)<<5 }

// branch checks a pc-relative byte offset and returns it in words,
// masked to bits.
func branch(off int64, bits uint) uint32 {
	lim := int64(1) << (bits - 1)
	if off%4 != 0 || off/4 < -lim || off/4 >= lim {
		panic(fmt.Sprintf("tinyguest: branch offset %d is not a multiple of 4 within ±%d words", off, lim))
	}
	return uint32(off/4) & (1<<bits - 1)
}

// B is b to off bytes from this instruction; B(0) is "b .".
func B(off int64) uint32 { return 0x14000000 | branch(off, 26) }

// BCond is b.cond to off bytes from this instruction.
func BCond(c Cond, off int64) uint32 { return 0x54000000 | branch(off, 19)<<5 | uint32(c&0xf) }

// Cbz is cbz xt: branch by off bytes when xt is zero.
func Cbz(rt Reg, off int64) uint32 { return 0xb4000000 | branch(off, 19)<<5 | reg(rt) }

// Cbnz is cbnz xt: branch by off bytes when xt is not zero.
func Cbnz(rt Reg, off int64) uint32 { return 0xb5000000 | branch(off, 19)<<5 | reg(rt) }

// Adr is adr xd, off: the address off bytes from this instruction, which
// lets code name its own addresses wherever it is loaded.
func Adr(rd Reg, off int64) uint32 {
	if off < -(1<<20) || off >= 1<<20 {
		panic(fmt.Sprintf("tinyguest: adr offset %d is beyond ±1 MiB", off))
	}
	imm := uint32(off) & (1<<21 - 1)
	return 0x10000000 | (imm&3)<<29 | (imm>>2)<<5 | reg(rd)
}
