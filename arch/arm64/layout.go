// Package arm64 is the mach-virt machine for AArch64 guests, laid out as
// kvmtool lays out its ARM guests: device windows in the low 1 GiB, the GIC
// just below 1 GiB, RAM from 2 GiB.
package arm64

// The guest-physical memory map (kvmtool's arm-common/kvm-arch.h):
//
//	0x0100_0000  platform devices (UARTs), one 4 KiB slot each
//	0x0200_0000  a CFI flash (--flash), at most 16 MiB
//	0x0300_0000  virtio-mmio windows, one 512-byte slot each
//	0x0900_0000  the PL011 console UART (4 KiB), where QEMU's virt board
//	             has it (earlycon=pl011,0x9000000); virtio-mmio windows
//	             stay below it (interrupts run out long before)
//	  ...        GICv3 redistributors, 128 KiB per vcpu, below the distributor
//	0x3ffd_0000  GICv2 CPU interface (128 KiB)
//	0x3fff_0000  GIC distributor (64 KiB)
//	0x4000_0000  end of the device area
//	0x8000_0000  RAM (default)
const (
	PlatformBase    = 0x0100_0000
	PlatformStride  = 0x1000
	PlatformAreaEnd = 0x0200_0000
	FlashBase       = 0x0200_0000
	FlashMaxSize    = 0x0100_0000
	VirtioBase      = 0x0300_0000
	VirtioStride    = 0x200
	FixedUARTBase   = 0x0900_0000
	FixedUARTSize   = 0x1000
	DeviceAreaEnd   = 0x4000_0000
	DefaultRAMBase  = 0x8000_0000

	GICDistBase       = DeviceAreaEnd - GICDistSize
	GICDistSize       = 0x1_0000
	GICv2CPUSize      = 0x2_0000
	GICv2CPUBase      = GICDistBase - GICv2CPUSize
	GICv3RedistStride = 0x2_0000 // RD_base and SGI_base frames of one vcpu

	// RAMAlign is the alignment booting.rst asks of the Image's base.
	RAMAlign = 2 << 20
)

// GICv3RedistBase is where the redistributor region starts for ncpus vcpus.
func GICv3RedistBase(ncpus int) uint64 {
	return GICDistBase - uint64(ncpus)*GICv3RedistStride
}

// Interrupt numbers. Devices get shared peripheral interrupts (SPIs)
// counted from 0, in the order they are placed; the GIC's interrupt ID is
// SPI+32. The architected timer uses the usual private interrupts.
const (
	SPIBase = 32
	// NumIRQs is the number of interrupt IDs the VGIC is set up with.
	NumIRQs = 256
	// MaxSPIs is how many device interrupts there are.
	MaxSPIs = NumIRQs - SPIBase

	TimerPPISecurePhys    = 13
	TimerPPINonSecurePhys = 14
	TimerPPIVirt          = 11
	TimerPPIHyp           = 10
)
