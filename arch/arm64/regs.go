package arm64

// KVM one-reg ids for AArch64 vcpus (asm/kvm.h). A core register's id is its
// offset in struct kvm_regs in 32-bit words.
const (
	regARM64   = 0x6000_0000_0000_0000
	regSizeU64 = 0x0030_0000_0000_0000
	regCore    = 0x0010 << 16
	regSysreg  = 0x0013 << 16

	// RegX0 is x0; xN is RegX0 + 2*N.
	RegX0     = regARM64 | regSizeU64 | regCore
	RegPC     = RegX0 + 0x40
	RegPSTATE = RegX0 + 0x42

	// RegSVEVLS is the bitmap of SVE vector lengths the vcpu offers
	// (KVM_REG_ARM64_SVE_VLS): bit vq-1 for a length of vq*128 bits.
	RegSVEVLS = regARM64 | 0x0060_0000_0000_0000 | 0x15<<16 | 0xffff
	// RegMPIDR is MPIDR_EL1 (op0=3, op1=0, CRn=0, CRm=0, op2=5).
	RegMPIDR = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 0<<7 | 0<<3 | 5

	// The stack pointers are core registers in KVM's API, not system
	// registers: struct user_pt_regs' sp is SP_EL0 (word 62), and
	// struct kvm_regs' sp_el1 follows pstate (word 68).
	RegSPEL0 = RegX0 + 0x3e
	RegSPEL1 = RegX0 + 0x44

	// The registers that say how the guest kernel translates addresses
	// and where its exception vectors are, for a backtrace. A system
	// register's id is its op0, op1, CRn, CRm, op2 encoding (Arm ARM
	// D19) at KVM_REG_ARM64_SYSREG's shifts 14, 11, 7, 3, 0.
	RegSCTLREL1 = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 1<<7 | 0<<3 | 0
	RegTTBR0EL1 = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 2<<7 | 0<<3 | 0
	RegTTBR1EL1 = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 2<<7 | 0<<3 | 1
	RegTCREL1   = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 2<<7 | 0<<3 | 2
	RegVBAREL1  = regARM64 | regSizeU64 | regSysreg | 3<<14 | 0<<11 | 12<<7 | 0<<3 | 0
)

// RegX returns the id of general-purpose register xN.
func RegX(n int) uint64 { return RegX0 + 2*uint64(n) }

// PSTATE for entry: EL1h with D, A, I and F masked, as booting.rst asks.
const (
	psrModeEL1h = 0x5
	psrF        = 1 << 6
	psrI        = 1 << 7
	psrA        = 1 << 8
	psrD        = 1 << 9

	BootPSTATE = psrModeEL1h | psrF | psrI | psrA | psrD
)

// MPIDRHWIDMask keeps the affinity fields Aff2..Aff0 of an MPIDR, which is
// what a cpu node's reg holds with #address-cells = 1.
const MPIDRHWIDMask = 0xff_ffff

// KVM vcpu init features (asm/kvm.h).
const (
	VcpuFeaturePowerOff   = 0
	VcpuFeatureEL132Bit   = 1
	VcpuFeaturePSCI02     = 2
	VcpuFeaturePMUv3      = 3
	VcpuFeatureSVE        = 4
	VcpuFeaturePtrAuthAdr = 5
	VcpuFeaturePtrAuthGen = 6
)
