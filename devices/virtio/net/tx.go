package net

import "github.com/gokvm/gokvm/devices/virtio"

// txLoop sends what the guest transmits, straight from guest memory.
// ServeQueue recovers a panic of its own.
func (n *Net) txLoop(env virtio.ActivateEnv, stop <-chan struct{}) {
	defer n.wg.Done()
	var iov virtio.IOVecs
	virtio.ServeQueue(env, netTX, "transmit queue", stop, func(c *virtio.Chain) (uint32, bool) {
		// A write interrupted by a stop leaves the chain to the reset.
		return 0, n.transmit(c, &iov) || !stopped(stop)
	})
}

// transmit writes one frame; a malformed one is dropped and counted. It
// returns false when the write was interrupted by a stop.
func (n *Net) transmit(c *virtio.Chain, iov *virtio.IOVecs) bool {
	iov.Reset()
	total := 0
	for _, b := range c.Buffers {
		if b.Writable {
			n.Stats.TxDropped.Add(1)
			n.logOnce("txwritable", "dropping a transmitted frame with a device-writable buffer")
			return true
		}
		total += len(b.Data)
		iov.Add(b.Data)
	}
	switch {
	case total < n.hdrLen+14:
		n.Stats.TxDropped.Add(1)
		n.logOnce("txshort", "dropping a transmitted frame of %d bytes (header and Ethernet header need %d)", total, n.hdrLen+14)
		return true
	case total > maxFrame:
		n.Stats.TxDropped.Add(1)
		n.logOnce("txlong", "dropping a transmitted frame of %d bytes", total)
		return true
	}
	if err := n.io.WritePacket(iov); err != nil {
		if interrupted(err) {
			return false
		}
		// The tap refused it (a bad GSO header, the link down): the
		// guest's problem or the host's, never a reason to stop.
		n.Stats.TxDropped.Add(1)
		n.logOnce("txerr", "the tap refused a frame: %v", err)
		return true
	}
	n.Stats.TxPackets.Add(1)
	n.Stats.TxBytes.Add(uint64(total - n.hdrLen))
	storeMax(&n.Stats.TxLargest, uint64(total-n.hdrLen))
	return true
}
