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
//	  ...        GICv3 ITS (128 KiB, --irqchip gicv3-its), below the
//	             redistributors
//	  ...        GICv3 redistributors, 128 KiB per vcpu, below the distributor
//	0x3ffc_f000  GICv2m MSI frame (4 KiB, --irqchip gicv2m)
//	0x3ffd_0000  GICv2 CPU interface (128 KiB)
//	0x3fff_0000  GIC distributor (64 KiB)
//	0x4000_0000  end of the device area; with --virtio-transport pci, the
//	             PCI host bridge's configuration space (ECAM, 256 MiB;
//	             bus 0 only, 32 KiB per device number)
//	0x5000_0000  the host bridge's 32-bit memory window (768 MiB): BARs
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
	// GICv3ITSSize is KVM_VGIC_V3_ITS_SIZE: the ITS's control frame and
	// the translation frame holding GITS_TRANSLATER.
	GICv3ITSSize = 0x2_0000
	// GICv2mBase is where kvmtool puts the GICv2m frame: below the CPU
	// interface.
	GICv2mBase = GICv2CPUBase - GICv2mSize
	GICv2mSize = 0x1000

	// The PCI host bridge (kvmtool's ARM_PCI_CFG_AREA and
	// ARM_PCI_MMIO_AREA, arm-common/kvm-arch.h).
	PCIConfigBase = DeviceAreaEnd
	PCIConfigSize = 0x1000_0000
	PCIMemBase    = PCIConfigBase + PCIConfigSize
	PCIMemSize    = DefaultRAMBase - PCIMemBase
	// PCISlotSize is one device number's configuration space in ECAM:
	// 8 functions of 4 KiB.
	PCISlotSize = 0x8000
	// PCISlots is how many device numbers bus 0 has.
	PCISlots = 32

	// RAMAlign is the alignment booting.rst asks of the Image's base.
	RAMAlign = 2 << 20
)

// GICv3RedistBase is where the redistributor region starts for ncpus vcpus.
func GICv3RedistBase(ncpus int) uint64 {
	return GICDistBase - uint64(ncpus)*GICv3RedistStride
}

// GICv3ITSBase is where the ITS goes for ncpus vcpus: below the
// redistributors, as kvmtool has it.
func GICv3ITSBase(ncpus int) uint64 {
	return GICv3RedistBase(ncpus) - GICv3ITSSize
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
	// GICv2mSPIs are the SPIs a GICv2m frame turns MSIs into (as many
	// as kvmtool's): the last ones, so that devices' SPIs are the same
	// with and without the frame.
	GICv2mSPIs = 64

	TimerPPISecurePhys    = 13
	TimerPPINonSecurePhys = 14
	TimerPPIVirt          = 11
	TimerPPIHyp           = 10
)
