package tinyguest

import (
	"encoding/binary"
	"fmt"
)

// PSCI 0.2 function ids (ARM DEN 0022), as KVM serves them for hvc #0.
const (
	PSCICPUOn       = 0xc4000003 // SMC64 CPU_ON: x1 target MPIDR, x2 entry, x3 context
	PSCISystemOff   = 0x84000008
	PSCISystemReset = 0x84000009
)

// Asm collects instructions with labels, for branches forward and back.
// Operand mistakes panic: they are bugs in the test that wrote them.
type Asm struct {
	words  []uint32
	labels map[string]int // word index
	fixups []fixup
}

// fixup is an instruction whose pc-relative offset waits for a label.
type fixup struct {
	at     int
	label  string
	encode func(off int64) uint32
}

// Word appends one encoded instruction (or data word).
func (a *Asm) Word(w ...uint32) *Asm {
	a.words = append(a.words, w...)
	return a
}

// Label names the next instruction's position.
func (a *Asm) Label(name string) *Asm {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	if _, dup := a.labels[name]; dup {
		panic(fmt.Sprintf("tinyguest: label %q defined twice", name))
	}
	a.labels[name] = len(a.words)
	return a
}

// ref appends an instruction that refers to label.
func (a *Asm) ref(label string, encode func(off int64) uint32) *Asm {
	a.fixups = append(a.fixups, fixup{at: len(a.words), label: label, encode: encode})
	a.words = append(a.words, 0)
	return a
}

// Mov loads any 64-bit constant into xd: a movz, then a movk for each
// other non-zero 16 bits.
func (a *Asm) Mov(rd Reg, v uint64) *Asm {
	a.Word(Movz(rd, uint16(v), 0))
	for shift := uint(16); shift < 64; shift += 16 {
		if c := uint16(v >> shift); c != 0 {
			a.Word(Movk(rd, c, shift))
		}
	}
	return a
}

// PSCI calls PSCI function fn through hvc #0; x1..x3 are the caller's
// arguments, x0 holds the result.
func (a *Asm) PSCI(fn uint32) *Asm { return a.Mov(0, uint64(fn)).Word(HVC0) }

// Spin is "b .": the vcpu stays on this instruction forever.
func (a *Asm) Spin() *Asm { return a.Word(B(0)) }

// B branches to label.
func (a *Asm) B(label string) *Asm { return a.ref(label, B) }

// BCond branches to label when c holds.
func (a *Asm) BCond(c Cond, label string) *Asm {
	return a.ref(label, func(off int64) uint32 { return BCond(c, off) })
}

// Cbz branches to label when xt is zero.
func (a *Asm) Cbz(rt Reg, label string) *Asm {
	return a.ref(label, func(off int64) uint32 { return Cbz(rt, off) })
}

// Cbnz branches to label when xt is not zero.
func (a *Asm) Cbnz(rt Reg, label string) *Asm {
	return a.ref(label, func(off int64) uint32 { return Cbnz(rt, off) })
}

// Print writes s to a 16550 UART whose base address is in xbase, a byte
// at a time through wtmp (the transmitter of an emulated UART is never
// full).
func (a *Asm) Print(base, tmp Reg, s string) *Asm {
	for i := 0; i < len(s); i++ {
		a.Word(Movz(tmp, uint16(s[i]), 0), StrB(tmp, base, 0))
	}
	return a
}

// Adr puts label's address into xd.
func (a *Asm) Adr(rd Reg, label string) *Asm {
	return a.ref(label, func(off int64) uint32 { return Adr(rd, off) })
}

// Offset is where label is, in bytes from the start of the code.
func (a *Asm) Offset(label string) uint64 {
	i, ok := a.labels[label]
	if !ok {
		panic(fmt.Sprintf("tinyguest: no label %q", label))
	}
	return uint64(i) * 4
}

// Code resolves the labels and returns the little-endian machine code.
func (a *Asm) Code() ([]byte, error) {
	words := append([]uint32(nil), a.words...)
	for _, f := range a.fixups {
		to, ok := a.labels[f.label]
		if !ok {
			return nil, fmt.Errorf("tinyguest: undefined label %q", f.label)
		}
		words[f.at] = f.encode(int64(to-f.at) * 4)
	}
	out := make([]byte, 4*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint32(out[4*i:], w)
	}
	return out, nil
}
