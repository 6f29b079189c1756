package net

// NoGSO is a PacketIO that takes only frames up to the MTU from the guest
// (a user-mode network stack, which does not segment): the device then
// offers the guest no TCP segmentation offload (HOST_TSO4/6, HOST_ECN).
// Partial checksums (NEEDS_CSUM) it must still complete.
type NoGSO interface {
	PacketIO
	NoGSO()
}

// hostGSO are the features that let the driver send GSO frames.
const hostGSO = 1<<netFHostTSO4 | 1<<netFHostTSO6 | 1<<netFHostECN
