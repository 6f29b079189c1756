package kvm

// Requests of the run phase, exported for the seccomp allow-list
// (vmm/seccomp), which must name every ioctl gokvm makes once the guest
// runs. The numbers are those in ioctl.go.
const (
	RequestRun            uint32 = kvmRun
	RequestIRQLine        uint32 = kvmIRQLine
	RequestIOEventFD      uint32 = kvmIOEventFD
	RequestCheckExtension uint32 = kvmCheckExtension
	RequestGetOneReg      uint32 = kvmGetOneReg
	RequestGetMPState     uint32 = kvmGetMPState
	// A vhost ring's call eventfd is made an irqfd when the driver sets
	// DRIVER_OK, and undone on its reset.
	RequestIRQFD uint32 = kvmIRQFD
	// A PCI function's MSI-X vector is routed when the guest programs
	// its message.
	RequestSetGSIRouting uint32 = kvmSetGSIRouting

	// A device whose window is read-only memory in one mode and MMIO in
	// another (a CFI flash: its array in read-array mode) maps and
	// unmaps it as the guest switches.
	RequestSetUserMemoryRegion uint32 = kvmSetUserMemoryRegion

	// A snapshot of the running machine (machine.Snapshot, asked for on
	// the control socket) reads every vcpu's registers and events and the
	// in-kernel GIC's attributes.
	RequestGetRegList    uint32 = kvmGetRegList
	RequestGetVcpuEvents uint32 = kvmGetVcpuEvents
	RequestGetDeviceAttr uint32 = kvmGetDeviceAttr
	RequestHasDeviceAttr uint32 = kvmHasDeviceAttr
	RequestSetDeviceAttr uint32 = kvmSetDeviceAttr
)
