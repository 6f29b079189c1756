// Package virtio implements the virtio-mmio transport, split virtqueues and
// the devices behind them. The pieces are separate: a device (blk, net)
// sees only its queues and guest memory, the queues only guest memory, and
// the transport is what the guest's MMIO accesses reach.
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

// Descriptor flags.
const (
	descFNext     = 1
	descFWrite    = 2
	descFIndirect = 4
)

// Ring flags.
const (
	availFNoInterrupt = 1
)

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
