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

// cpsrModes names CPSR.M of an AArch32 guest.
var cpsrModes = map[uint64]string{
	0x10: "usr", 0x11: "fiq", 0x12: "irq", 0x13: "svc", 0x16: "mon",
	0x17: "abt", 0x1a: "hyp", 0x1b: "und", 0x1f: "sys",
}

// lrOnARM64Host is, per mode, the x register holding that mode's lr: an
// arm64 host keeps the AArch32 banks where the architecture maps them (usr
// and sys x14, irq x16, svc x18, abt x20, und x22).
var lrOnARM64Host = map[uint64]int{0x10: 14, 0x1f: 14, 0x12: 16, 0x13: 18, 0x17: 20, 0x1b: 22}

// lrOnARMHost is, per mode, the 32-bit word of a 32-bit host's struct
// kvm_regs holding that mode's lr: usr_regs (18 words) then the svc, abt,
// und and irq banks of sp, lr, spsr.
var lrOnARMHost = map[uint64]int{0x10: 14, 0x1f: 14, 0x13: 19, 0x17: 22, 0x1b: 25, 0x12: 28}

// lrReg is the one-reg id of the lr of the mode in cpsr, or 0.
func lrReg(host32 bool, cpsr uint64) uint64 {
	if host32 {
		if i, ok := lrOnARMHost[cpsr&0x1f]; ok {
			return coreR0 + uint64(i)
		}
		return 0
	}
	if i, ok := lrOnARM64Host[cpsr&0x1f]; ok {
		return arm64.RegX(i)
	}
	return 0
}
