package net

import (
	"fmt"
	"sync/atomic"
)

// NetStats counts what the device did, including what it dropped.
type NetStats struct {
	RxPackets, RxBytes, RxDropped, RxLargest atomic.Uint64
	TxPackets, TxBytes, TxDropped, TxLargest atomic.Uint64
}

func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// String summarises the counters.
func (s *NetStats) String() string {
	return fmt.Sprintf("tx %d frames %d bytes (%d dropped, largest %d), rx %d frames %d bytes (%d dropped, largest %d)",
		s.TxPackets.Load(), s.TxBytes.Load(), s.TxDropped.Load(), s.TxLargest.Load(),
		s.RxPackets.Load(), s.RxBytes.Load(), s.RxDropped.Load(), s.RxLargest.Load())
}
