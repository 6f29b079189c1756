// Package virtio implements the transports virtio devices run behind
// (virtio-mmio, mmio.go, and virtio-pci, pci.go, over one core,
// transport.go), split virtqueues, and what the devices share: the
// Device interface, the loop that serves a queue, scatter-gather lists
// over guest buffers, the gate that holds a device still while the
// machine is paused, and the saved state of a transport and its device
// (state.go). The devices themselves live in subpackages (blk, net); a
// device sees only its queues and guest memory, the queues only guest
// memory, and the transport is what the guest's accesses reach.
package virtio

// Feature bits shared by every device (virtio 1.2, section 6).
const (
	FeatureIndirectDesc = 28
	FeatureEventIdx     = 29
	FeatureVersion1     = 32
)

// Device status bits.
const (
	StatusAcknowledge      = 1
	StatusDriver           = 2
	StatusDriverOK         = 4
	StatusFeaturesOK       = 8
	StatusDeviceNeedsReset = 64
	StatusFailed           = 128
)

// Descriptor flags (VIRTQ_DESC_F_*).
const (
	DescFNext     = 1
	DescFWrite    = 2
	DescFIndirect = 4
)

// AvailFNoInterrupt is the available ring's flag by which a driver that
// did not negotiate EVENT_IDX asks for no interrupts.
const AvailFNoInterrupt = 1

// Interrupt status bits of the transport.
const (
	InterruptUsedBuffer   = 1
	InterruptConfigChange = 2
)

// Device IDs.
const (
	DeviceIDNet   = 1
	DeviceIDBlock = 2
)
