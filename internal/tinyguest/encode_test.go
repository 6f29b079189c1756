package tinyguest

import (
	"encoding/binary"
	"testing"
)

// The expected words come from GNU as (binutils-aarch64-linux-gnu 2.40)
// for A64, each case's comment the line it assembled, objdump -d the
// word; and for A32 from LLVM's assembler (llvm-mc 14, -triple=armv7a
// -mattr=+virtualization, then llvm-objdump -d for the branches).
func TestEncodingsMatchAssemblers(t *testing.T) {
	for _, c := range []struct {
		asm  string
		got  uint32
		want uint32
	}{
		{"movz x1, #0x1234", Movz(1, 0x1234, 0), 0xd2824681},
		{"movz x19, #0xbeef, lsl #48", Movz(19, 0xbeef, 48), 0xd2f7ddf3},
		{"movk x1, #0x100, lsl #16", Movk(1, 0x100, 16), 0xf2a02001},
		{"movk x0, #0xc400, lsl #16", Movk(0, 0xc400, 16), 0xf2b88000},
		{"movk x30, #0xffff, lsl #32", Movk(30, 0xffff, 32), 0xf2dffffe},
		{"str w2, [x1, #16]", StrW(2, 1, 16), 0xb9001022},
		{"str w2, [x19]", StrW(2, 19, 0), 0xb9000262},
		{"str x20, [x19, #0x18]", StrX(20, 19, 0x18), 0xf9000e74},
		{"str x0, [x19, #0x7ff8]", StrX(0, 19, 0x7ff8), 0xf93ffe60},
		{"strb w2, [x19]", StrB(2, 19, 0), 0x39000262},
		{"strb w2, [x19, #0xfff]", StrB(2, 19, 0xfff), 0x393ffe62},
		{"cmp x0, x5", CmpReg(0, 5), 0xeb05001f},
		{"cmp x4, x19", CmpReg(4, 19), 0xeb13009f},
		{"ldr w4, [x19]", LdrW(4, 19, 0), 0xb9400264},
		{"ldrb w4, [x19, #7]", LdrB(4, 19, 7), 0x39401e64},
		{"sub x20, x20, #1", SubImm(20, 20, 1), 0xd1000694},
		{"sub x1, x1, #1", SubImm(1, 1, 1), 0xd1000421},
		{"ldr w4, [x1, #0x3ffc]", LdrW(4, 1, 0x3ffc), 0xb97ffc24},
		{"ldr x5, [x19, #8]", LdrX(5, 19, 8), 0xf9400665},
		{"ldp x2, x3, [x1]", Ldp(2, 3, 1), 0xa9400c22},
		{"add x2, x2, #1", AddImm(2, 2, 1), 0x91000442},
		{"add x0, x1, #0xfff", AddImm(0, 1, 0xfff), 0x913ffc20},
		{"add x2, x2, x4", AddReg(2, 2, 4), 0x8b040042},
		{"add x19, x0, x30", AddReg(19, 0, 30), 0x8b1e0013},
		{"cmp x4, #3", CmpImm(4, 3), 0xf1000c9f},
		{"mrs x5, mpidr_el1", MrsMPIDR(5), 0xd53800a5},
		{"mrs x0, mpidr_el1", MrsMPIDR(0), 0xd53800a0},
		{"hvc #0", HVC0, 0xd4000002},
		{"hvc #0", HVC(0), 0xd4000002},
		{"hvc #0x1234", HVC(0x1234), 0xd4024682},
		{"wfi", WFI, 0xd503207f},
		{"nop", NOP, 0xd503201f},
		{"l0: b l0", B(0), 0x14000000},
		{"b l1 (+8)", B(8), 0x14000002},
		{"b l0 (-12)", B(-12), 0x17fffffd},
		{"b.lo l0 (-16)", BCond(LO, -16), 0x54ffff83},
		{"b.eq l2 (+24)", BCond(EQ, 24), 0x540000c0},
		{"cbz x4, l0 (-24)", Cbz(4, -24), 0xb4ffff44},
		{"cbnz x4, l2 (+16)", Cbnz(4, 16), 0xb5000084},
		{"adr x2, l2 (+12)", Adr(2, 12), 0x10000062},
		{"adr x3, l0 (-36)", Adr(3, -36), 0x10fffee3},
		{"b #0x40 (an Image's code0)", B(HeaderSize), 0x14000010},
		{"A32: movw r5, #0x0dd0", A32Movw(5, 0x0dd0), 0xe3005dd0},
		{"A32: movt r5, #0xedfe", A32Movt(5, 0xedfe), 0xe34e5dfe},
		{"A32: strb r2, [r9]", A32Strb(2, 9, 0), 0xe5c92000},
		{"A32: strb r2, [r9, #5]", A32Strb(2, 9, 5), 0xe5c92005},
		{"A32: ldr r4, [r2]", A32Ldr(4, 2, 0), 0xe5924000},
		{"A32: ldr r4, [r2, #4092]", A32Ldr(4, 2, 4092), 0xe5924ffc},
		{"A32: cmp r4, r5", A32Cmp(4, 5), 0xe1540005},
		{"A32: add r2, r4, r5", A32Add(2, 4, 5), 0xe0842005},
		{"A32: sub r4, pc, #8", A32Here(4), 0xe24f4008},
		{"A32: hvc #0", A32HVC0, 0xe1400070},
		{"A32: l0: bne l1 (+16)", A32B(NE, 16), 0x1a000002},
		{"A32: b .", A32B(AL, 0), 0xeafffffe},
		{"A32: beq l0 (-8)", A32B(EQ, -8), 0x0afffffc},
		{"A32: b l0 (-16)", A32B(AL, -16), 0xeafffffa},
	} {
		if c.got != c.want {
			t.Errorf("%s: encoded %#08x, the assembler gives %#08x", c.asm, c.got, c.want)
		}
	}
}

// The same branch block as above (from l0), through labels.
func TestAsmResolvesLabels(t *testing.T) {
	var a Asm
	a.Label("l0").Spin().B("l1").Word(NOP).
		Label("l1").B("l0").BCond(LO, "l0").BCond(EQ, "l2").Cbz(4, "l0").
		Word(Cbnz(4, 16)).Adr(2, "l2").Adr(3, "l0").Word(NOP).
		Label("l2").Word(NOP)
	code, err := a.Code()
	if err != nil {
		t.Fatal(err)
	}
	want := []uint32{0x14000000, 0x14000002, 0xd503201f, 0x17fffffd, 0x54ffff83, 0x540000c0,
		0xb4ffff44, 0xb5000084, 0x10000062, 0x10fffee3, 0xd503201f, 0xd503201f}
	if len(code) != 4*len(want) {
		t.Fatalf("%d bytes of code, want %d", len(code), 4*len(want))
	}
	for i, w := range want {
		if got := binary.LittleEndian.Uint32(code[4*i:]); got != w {
			t.Errorf("word %d (offset %#x): %#08x, want %#08x", i, 4*i, got, w)
		}
	}
	if got := a.Offset("l2"); got != 0x2c {
		t.Errorf("l2 at %#x, want 0x2c", got)
	}
	var bad Asm
	if _, err := bad.B("nowhere").Code(); err == nil {
		t.Errorf("a branch to an undefined label assembled")
	}
}

// Mov's movz/movk sequence must rebuild the constant, whatever its
// zero halves.
func TestMovLoadsConstants(t *testing.T) {
	for _, v := range []uint64{0, 1, PSCICPUOn, PSCISystemOff, 0x0100_0000, 0x8000_0000, 0xffff_0000_0000_ffff, 0x0123_4567_89ab_cdef, ^uint64(0)} {
		var a Asm
		code, _ := a.Mov(7, v).Code()
		var x uint64 = 0xdead_dead_dead_dead // movz must clear what was there
		for i := 0; i < len(code); i += 4 {
			w := binary.LittleEndian.Uint32(code[i:])
			if w&0x1f != 7 {
				t.Fatalf("Mov(%#x) wrote register %d", v, w&0x1f)
			}
			shift := (w >> 21 & 3) * 16
			imm := uint64(w >> 5 & 0xffff)
			switch w & 0xff800000 {
			case 0xd2800000: // movz
				x = imm << shift
			case 0xf2800000: // movk
				x = x&^(0xffff<<shift) | imm<<shift
			default:
				t.Fatalf("Mov(%#x) emitted %#08x, neither movz nor movk", v, w)
			}
		}
		if x != v {
			t.Errorf("Mov(%#x) loads %#x", v, x)
		}
	}
}

func TestOperandsOutOfRangePanic(t *testing.T) {
	for name, f := range map[string]func(){
		"misaligned str w":   func() { StrW(0, 1, 2) },
		"strb beyond 4K":     func() { StrB(0, 1, 0x1000) },
		"str x beyond 32K":   func() { StrX(0, 1, 0x8000) },
		"add imm 0x1000":     func() { AddImm(0, 0, 0x1000) },
		"movk shift 8":       func() { Movk(0, 1, 8) },
		"register 32":        func() { StrW(32, 0, 0) },
		"cbz beyond 1 MiB":   func() { Cbz(0, 1<<20) },
		"misaligned branch":  func() { B(2) },
		"adr beyond 1 MiB":   func() { Adr(0, 1<<20) },
		"A32 register 16":    func() { A32Cmp(16, 0) },
		"A32 strb beyond 4K": func() { A32Strb(0, 1, 0x1000) },
		"A32 misaligned b":   func() { A32B(AL, 2) },
		"A32 b beyond 32M":   func() { A32B(AL, 1<<25+8) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
