package arm64

import (
	"fmt"
	"strings"

	"github.com/gokvm/gokvm/symbols"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// DescribeVcpu implements vmm.VcpuDescriber: the guest's registers that
// say where a stuck vcpu is, on one line, and for an AArch64 guest whose
// memory the board was given (SetBacktrace) the lines of its kernel stack
// (VcpuTrace.Stack): symbolized with a symbol table, addresses without.
func (b *Board) DescribeVcpu(v *kvm.Vcpu) string {
	regs := b.guest.DescribeRegs(v)
	if t, ok := b.TraceVcpu(v); ok {
		return regs + t.Stack()
	}
	return regs
}

// SetBacktrace gives the board what it unwinds a vcpu's kernel stack
// with: guest memory and a symbol table (nil: addresses only). Call it
// once the machine is built (booted or restored), before it runs; the
// board does not close syms.
func (b *Board) SetBacktrace(mem PhysReader, syms *symbols.Table) {
	b.traceMem, b.syms = mem, syms
}

// TraceVcpu is the vcpu's backtrace (BacktraceVcpu with what
// SetBacktrace gave); ok is false for an AArch32 guest or before
// SetBacktrace. It runs on the vcpu's thread, between two KVM_RUNs.
func (b *Board) TraceVcpu(v *kvm.Vcpu) (VcpuTrace, bool) {
	if b.traceMem == nil {
		return VcpuTrace{}, false
	}
	return b.BacktraceVcpu(v, b.traceMem, b.syms)
}

// aarch64Modes names PSTATE.M[3:0] of an AArch64 PSTATE.
var aarch64Modes = map[uint64]string{0x0: "EL0t", 0x4: "EL1t", 0x5: "EL1h", 0x8: "EL2t", 0x9: "EL2h"}

// DescribeRegs implements Guest.
func (AArch64) DescribeRegs(v *kvm.Vcpu) string {
	return FormatRegs(v, RegPC, RegPSTATE,
		func(uint64) uint64 { return RegX(30) },
		func(pstate uint64) string { return aarch64Modes[pstate&0xf] })
}

// FormatRegs reads pc, the status register and lr (one-reg ids as the
// guest's kind numbers them) and formats them for a state dump, naming the
// mode and saying whether IRQs are masked (bit 7 in PSTATE and CPSR alike).
// lrFor and mode interpret the status register, read once: lrFor gives the
// id of the current mode's link register, or 0 when none applies.
func FormatRegs(v *kvm.Vcpu, pcID, psrID uint64, lrFor func(psr uint64) uint64, mode func(psr uint64) string) string {
	var out []string
	read := func(name string, id uint64) (uint64, bool) {
		val, err := v.GetOneReg(id)
		if err != nil {
			out = append(out, fmt.Sprintf("%s unreadable (%v)", name, err))
			return 0, false
		}
		return val, true
	}
	if pc, ok := read("pc", pcID); ok {
		out = append(out, fmt.Sprintf("pc=%#x", pc))
	}
	psr, psrOK := read("psr", psrID)
	if !psrOK {
		return strings.Join(out, " ")
	}
	if lrID := lrFor(psr); lrID != 0 {
		if lr, ok := read("lr", lrID); ok {
			out = append(out, fmt.Sprintf("lr=%#x", lr))
		}
	}
	m := mode(psr)
	if m == "" {
		m = "unknown mode"
	}
	irqs := "irqs on"
	if psr&psrI != 0 {
		irqs = "irqs masked"
	}
	return strings.Join(append(out, fmt.Sprintf("psr=%#x (%s, %s)", psr, m, irqs)), " ")
}
