package arm

import (
	"runtime"

	"github.com/gokvm/gokvm/arch/arm64"
)

// RegSet holds the one-reg ids of what the 32-bit boot protocol sets, as
// the host's KVM numbers them.
type RegSet struct {
	R0, R1, R2, PC, CPSR uint64
	MPIDR                uint64
}

// On an arm64 host an AArch32 guest's registers are the AArch64 ones:
// r0-r14 in x0-x14, the CPSR in PSTATE (asm/kvm.h of arm64).
var regsOnARM64Host = RegSet{
	R0:    arm64.RegX(0),
	R1:    arm64.RegX(1),
	R2:    arm64.RegX(2),
	PC:    arm64.RegPC,
	CPSR:  arm64.RegPSTATE,
	MPIDR: arm64.RegMPIDR,
}

// On a 32-bit ARM host (Linux 5.6 and older) core registers are 32-bit
// words indexed in struct kvm_regs (pt_regs: r0-r15, cpsr), and MPIDR is
// the cp15 register c0, c0, 0, 5 (arch/arm/include/uapi/asm/kvm.h).
const (
	regARM     = 0x4000_0000_0000_0000
	regSizeU32 = 0x0020_0000_0000_0000
	regCore    = 0x0010 << 16
	regCP15    = 15 << 16

	coreR0   = regARM | regSizeU32 | regCore
	cp15CRn  = 11
	cp15CRm  = 7
	cp15Opc1 = 3
	cp15Opc2 = 0
)

func cp15Reg32(opc1, crn, crm, opc2 uint64) uint64 {
	return regARM | regSizeU32 | regCP15 | crn<<cp15CRn | crm<<cp15CRm | opc1<<cp15Opc1 | opc2<<cp15Opc2
}

var regsOnARMHost = RegSet{
	R0:    coreR0 + 0,
	R1:    coreR0 + 1,
	R2:    coreR0 + 2,
	PC:    coreR0 + 15,
	CPSR:  coreR0 + 16,
	MPIDR: cp15Reg32(0, 0, 0, 5),
}

// hostIs32Bit tells which numbering the running host uses.
func hostIs32Bit() bool { return runtime.GOARCH == "arm" }

// hostRegs is the register numbering of the host gokvm runs on.
func hostRegs(host32 bool) RegSet {
	if host32 {
		return regsOnARMHost
	}
	return regsOnARM64Host
}

// Boot CPSR: SVC mode with asynchronous aborts, IRQs and FIQs masked, as
// Documentation/arm/booting.rst asks.
const (
	cpsrModeSVC = 0x13
	cpsrF       = 1 << 6
	cpsrI       = 1 << 7
	cpsrA       = 1 << 8

	BootCPSR = cpsrModeSVC | cpsrA | cpsrI | cpsrF
)

// MachineTypeAny is r1 for device-tree boots: no machine number.
const MachineTypeAny = 0xffffffff
