package vmm

// DeviceKind names what a device is, so that the board can describe it to
// the guest (device tree node, compatible string) without knowing its code.
type DeviceKind int

const (
	// DeviceUART is a 16550A-compatible serial port.
	DeviceUART DeviceKind = iota
	// DeviceVirtioMMIO is a virtio-mmio transport window.
	DeviceVirtioMMIO
)

// DevicePlacement is where the board put a device: its MMIO window and the
// interrupt it raises (a board-relative shared interrupt number).
type DevicePlacement struct {
	Kind DeviceKind
	Base uint64
	Size uint64
	IRQ  uint32
}

// Payload is what the guest boots: file contents, already read.
type Payload struct {
	Kernel  []byte
	Initrd  []byte
	Cmdline string
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
	// CheckHost fails with a MissingCapabilityError naming what the host
	// lacks.
	CheckHost(sys *System) error
	// MachineType is KVM_CREATE_VM's argument.
	MachineType(sys *System) (uintptr, error)
	// CreateIRQChip makes the in-kernel interrupt controller; it runs
	// before vcpus are created.
	CreateIRQChip(vm *VM, cpus int) error
	// InitVcpu readies a freshly created vcpu; only vcpu 0 starts running.
	InitVcpu(vm *VM, v *Vcpu) error
	// FinalizeIRQChip runs once every vcpu exists.
	FinalizeIRQChip() error
	// PlaceDevice assigns an MMIO window and interrupt for a device.
	PlaceDevice(kind DeviceKind, size uint64) (DevicePlacement, error)
	// IRQLine is the KVM_IRQ_LINE encoding of a placement's interrupt.
	IRQLine(irq uint32) uint32
	// Boot writes kernel, initrd and device tree into RAM and sets the
	// boot vcpu's registers. It returns the device tree blob it wrote.
	Boot(mem *GuestMemory, vcpus []*Vcpu, devices []DevicePlacement) (dtb []byte, err error)
}
