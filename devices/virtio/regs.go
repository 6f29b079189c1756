package virtio

// The virtio-mmio register map (virtio 1.2, 4.2.2; the legacy layout in
// 4.2.4): offsets in a device's window. Registers are 32 bits wide; the
// device's config space starts at RegConfig.
const (
	RegMagic             = 0x000
	RegVersion           = 0x004
	RegDeviceID          = 0x008
	RegVendorID          = 0x00c
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegGuestPageSize     = 0x028 // legacy
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueAlign        = 0x03c // legacy
	RegQueuePFN          = 0x040 // legacy
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegConfigGeneration  = 0x0fc
	RegConfig            = 0x100
)

const (
	mmioMagic = 0x74726976 // "virt"
	vendorID  = 0x4b564d47 // "GMVK": gokvm
)
