package net

// Tap offload flags (linux/if_tun.h).
const (
	tunFCsum   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

// OffloadFlags is the tap offload set for a negotiated feature set.
func OffloadFlags(features uint64) uint {
	has := func(f uint) bool { return features&(1<<f) != 0 }
	var flags uint
	if has(netFGuestCsum) {
		flags |= tunFCsum
		if has(netFGuestTSO4) {
			flags |= tunFTSO4
		}
		if has(netFGuestTSO6) {
			flags |= tunFTSO6
		}
		if has(netFGuestECN) && flags&(tunFTSO4|tunFTSO6) != 0 {
			flags |= tunFTSOECN
		}
	}
	return flags
}
