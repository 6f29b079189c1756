package vmm

import (
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/memory"
)

// Area is a part of the board's MMIO space that devices are placed in. It
// says where a device goes, not what it is: the board hands out the next
// free slot of the area.
type Area int

const (
	// AreaPlatform holds platform devices in slots of 4 KiB (UARTs, and
	// the like); on mach-virt from 0x0100_0000, as kvmtool has them.
	AreaPlatform Area = iota
	// AreaVirtio holds virtio-mmio windows; on mach-virt 512-byte slots
	// from 0x0300_0000.
	AreaVirtio
	// AreaFixedUART is one slot at the address guests' command lines
	// name for the board's UART (earlycon=pl011,0x9000000 on QEMU's virt
	// board, which CI harnesses hard-code); the board says where.
	AreaFixedUART
	// AreaFlash is one window for a flash, with no interrupt, where the
	// board's firmware expects it (on mach-virt kvmtool's 0x0200_0000,
	// at most 16 MiB).
	AreaFlash
	// AreaPCI holds PCI functions: each gets the configuration space of
	// the next device number on the host bridge's bus (its window),
	// an interrupt for its INTx pin, and the bridge's memory window as
	// its Dynamic range, where its BARs go.
	AreaPCI
	// AreaPCIHost is the PCI host bridge's whole configuration space
	// (ECAM); its device is placed in the Background, behind its
	// functions, and raises no interrupt.
	AreaPCIHost
)

func (a Area) String() string {
	switch a {
	case AreaPlatform:
		return "platform"
	case AreaVirtio:
		return "virtio-mmio"
	case AreaFixedUART:
		return "fixed UART"
	case AreaFlash:
		return "flash"
	case AreaPCI:
		return "PCI function"
	case AreaPCIHost:
		return "PCI host bridge"
	}
	return "unknown area"
}

// Placement is where the board put a device: its MMIO window and the
// interrupt it raises (a board-relative device interrupt number), NoIRQ
// for a device without one.
type Placement struct {
	Base uint64
	Size uint64
	IRQ  uint32
	// DynamicBase and DynamicSize are where the device may map windows
	// while the guest runs (DeviceEnv.MapWindow): a PCI function's
	// BARs, in its host bridge's memory window. None when 0.
	DynamicBase, DynamicSize uint64
}

// NoIRQ is the IRQ of a placement without an interrupt (a flash, a PCI
// host bridge): its DeviceEnv's SetLevel and Pulse do nothing.
const NoIRQ = ^uint32(0)

// Trigger is how a device's interrupt is signalled.
type Trigger int

const (
	// TriggerLevel: the line stays asserted until the device lowers it.
	TriggerLevel Trigger = iota
	// TriggerEdge: each interrupt is one event (an irqfd write).
	TriggerEdge
)

// DeviceTree is how a device describes itself to the guest. The
// architecture implements it (a flattened device tree on ARM); a device
// only says what it is.
type DeviceTree interface {
	// AddDevice adds a node for the device at p, named prefix@base, with
	// its reg and its interrupt in the architecture's encoding.
	AddDevice(prefix string, p Placement, trigger Trigger) DeviceNode
	// SetStdout makes n the guest's console (/chosen/stdout-path).
	SetStdout(n DeviceNode)
	// FixedClock describes a fixed-rate clock named name (once for each
	// name) and returns the handle by which devices refer to it.
	FixedClock(name string, hz uint32) (phandle uint32)
	// PCIHost describes the PCI host bridge placed at p (AreaPCIHost):
	// its configuration space, memory window and interrupt routing.
	PCIHost(p Placement)
	// PCIFunction adds the PCI function placed at p (AreaPCI) to its
	// host bridge's description: its INTx pin is wired to p's
	// interrupt.
	PCIFunction(p Placement)
}

// DeviceNode is one device's node, to which it adds its properties.
type DeviceNode interface {
	// Strings sets a property holding a list of strings (compatible).
	Strings(name string, values ...string)
	// U32 sets a one-cell property.
	U32(name string, v uint32)
	// U32s sets a property of several cells (clocks = <&a &b>).
	U32s(name string, v ...uint32)
	// Flag sets a property without a value (dma-coherent).
	Flag(name string)
}

// DescribeFunc writes a device's node into the guest's description of the
// machine, from where the board placed it.
type DescribeFunc func(dt DeviceTree, p Placement)

// PlacedDevice is a device as the board describes it to the guest.
type PlacedDevice struct {
	Name      string
	Placement Placement
	Describe  DescribeFunc
}

// Payload is what the guest boots: file contents, already read.
type Payload struct {
	Kernel  []byte
	Initrd  []byte
	Cmdline string
	// KernelName names the kernel in messages (its file's name); "the
	// kernel" when empty.
	KernelName string
	// Firmware, instead of a kernel and initrd, is a firmware image
	// booted as kvmtool's --firmware boots one: loaded as it is at
	// FirmwareAddr (the start of RAM when 0) and entered at its first
	// byte, with the device tree after it.
	Firmware     []byte
	FirmwareAddr uint64
}

// Board is what the generic VM core asks of an architecture's machine: the
// memory map, interrupt controller, vcpu setup, loaders and boot protocol.
// Calls come in the order they are listed.
type Board interface {
	// Name is the board's name in messages, e.g. "arm64 mach-virt".
	Name() string
	// DefaultRAMBase is the guest-physical start of RAM when the user
	// gives none.
	DefaultRAMBase() uint64
	// Prepare parses the payload and plans where it goes in
	// [ramBase, ramBase+ramSize), before KVM is touched, so bad input
	// fails early with a ConfigError.
	Prepare(p Payload, ramBase, ramSize uint64, cpus int) error
	// CheckHost fails with a kvm.MissingCapabilityError naming what the
	// host lacks.
	CheckHost(sys *kvm.System) error
	// MachineType is KVM_CREATE_VM's argument.
	MachineType(sys *kvm.System) (uintptr, error)
	// CreateIRQChip makes the in-kernel interrupt controller; it runs
	// before vcpus are created.
	CreateIRQChip(vm *kvm.VM, cpus int) error
	// InitVcpu readies a freshly created vcpu; only vcpu 0 starts running.
	InitVcpu(vm *kvm.VM, v *kvm.Vcpu) error
	// FinalizeIRQChip runs once every vcpu exists.
	FinalizeIRQChip() error
	// PlaceDevice assigns a window of size bytes in area, and an
	// interrupt.
	PlaceDevice(area Area, size uint64) (Placement, error)
	// IRQLine is the KVM_IRQ_LINE encoding of a placement's interrupt.
	IRQLine(irq uint32) uint32
	// Boot writes kernel, initrd and device tree (with a node from each
	// device) into RAM and sets the boot vcpu's registers. It returns the
	// device tree blob it wrote.
	Boot(mem *memory.GuestMemory, vcpus []*kvm.Vcpu, devices []PlacedDevice) (dtb []byte, err error)
}

// MSIBoard is a board whose interrupt controller takes message-signalled
// interrupts (an ITS, a GICv2m frame): its devices' MSIs are delivered
// through the VM's routing table, whose routes it makes.
type MSIBoard interface {
	// HasMSI reports whether the machine as built has an MSI
	// controller.
	HasMSI() bool
	// WiredRoutes are the routes of the interrupt controller's pins
	// that KVM has before a routing table is set (GSI n, pin n): a
	// table replaces them, so every table starts with them.
	WiredRoutes() []kvm.IRQRoute
	// MSIRoute is the route that delivers message (address, data) sent
	// by the device placed at p, for GSI gsi; an error when the message
	// reaches no MSI controller (a hostile or unprogrammed address, data
	// outside what the controller takes).
	MSIRoute(p Placement, gsi uint32, address uint64, data uint32) (kvm.IRQRoute, error)
}

// BoardDevice is a device of the board itself (a GICv2m frame), which it
// places and describes: the core only puts it on the MMIO bus.
type BoardDevice struct {
	Name       string
	Base, Size uint64
	Device     MMIODevice
}

// DeviceBoard is a board with devices of its own, asked for once the
// interrupt controller is initialised.
type DeviceBoard interface {
	BoardDevices() []BoardDevice
}

// VcpuDescriber is what a board may add to a vcpu state dump: the
// architecture's view of where the vcpu is (program counter, mode). It is
// called on the vcpu's own thread, between two KVM_RUNs.
type VcpuDescriber interface {
	DescribeVcpu(v *kvm.Vcpu) string
}
