// Package pci emulates what a PCI device is to the guest besides its
// function: a type 0 configuration space (identity, command and status,
// 32-bit memory BARs, a capability list, the INTx pin), BARs mapped where
// the guest programs them, an MSI-X table, and the host bridge's
// configuration space around its functions. A device (virtio-pci)
// builds a Function, gives it BARs and capabilities, and raises its
// interrupts through it; the Function is the device's vmm.MMIODevice in
// ECAM, seeing only offsets in its device number's configuration space.
package pci

// Configuration space registers (PCI Local Bus Specification 3.0, 6.1;
// Linux's include/uapi/linux/pci_regs.h).
const (
	RegVendorID       = 0x00
	RegDeviceID       = 0x02
	RegCommand        = 0x04
	RegStatus         = 0x06
	RegRevision       = 0x08
	RegClass          = 0x09 // programming interface, subclass, class
	RegCacheLineSize  = 0x0c
	RegLatencyTimer   = 0x0d
	RegHeaderType     = 0x0e
	RegBAR0           = 0x10
	RegSubsysVendorID = 0x2c
	RegSubsysID       = 0x2e
	RegROM            = 0x30
	RegCapabilities   = 0x34
	RegInterruptLine  = 0x3c
	RegInterruptPin   = 0x3d

	// NumBARs is a type 0 header's BARs.
	NumBARs = 6
	// ConfigSize is the configuration space of a conventional PCI
	// function; the rest of ECAM's 4 KiB (PCI Express's extended
	// capabilities) reads as zero.
	ConfigSize = 0x100
	// FunctionSize is one function's configuration space in ECAM.
	FunctionSize = 0x1000
	// firstCap is where capabilities start, after the header.
	firstCap = 0x40
)

// Command register bits.
const (
	CommandIO           = 1 << 0
	CommandMemory       = 1 << 1
	CommandMaster       = 1 << 2
	CommandINTxDisable  = 1 << 10
	commandWritable     = CommandIO | CommandMemory | CommandMaster | CommandINTxDisable
	statusInterrupt     = 1 << 3
	statusCapList       = 1 << 4
	headerTypeNormal    = 0
	interruptPinINTA    = 1
	barMemory32         = 0 // a BAR's low bits: memory, 32-bit, not prefetchable
	barFlagsMask        = 0xf
	minBARSize          = 0x1000 // a page: the guest maps BARs with page granularity
	capIDMSIX           = 0x11
	capIDVendor         = 0x09
	msixControlEnable   = 1 << 15
	msixControlMaskAll  = 1 << 14
	msixControlWritable = msixControlEnable | msixControlMaskAll
)

// Vendor is the PCI vendor ID of Red Hat's virtio devices (virtio 1.2,
// 4.1.2), the ID every virtio-pci driver looks for.
const VendorRedHat = 0x1af4
