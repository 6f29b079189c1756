package virtio

import (
	"encoding/binary"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// virtio-net feature bits (virtio 1.2, 5.1.3).
const (
	netFCsum      = 0
	netFGuestCsum = 1
	netFMAC       = 5
	netFGuestTSO4 = 7
	netFGuestTSO6 = 8
	netFGuestECN  = 9
	netFHostTSO4  = 11
	netFHostTSO6  = 12
	netFHostECN   = 13
	netFMrgRxbuf  = 15
	netFStatus    = 16

	netSLinkUp = 1

	netQueueSize = MaxQueueSize
	netRX        = 0
	netTX        = 1
	// maxFrame bounds one frame with its header: a 64 KiB GSO packet and
	// its Ethernet and virtio-net headers.
	maxFrame = 65536 + 14 + 4 + vnetHdrSize + 64
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

// Net is a virtio-net device over a PacketIO (a tap).
type Net struct {
	io    PacketIO
	mac   net.HardwareAddr
	log   *log.Logger
	name  string
	Stats NetStats

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Map // kinds of guest error already logged

	hdrLen int
	mrg    bool
}

// NewNet makes a virtio-net device sending to and receiving from io.
func NewNet(name string, io PacketIO, mac net.HardwareAddr, logger *log.Logger) *Net {
	return &Net{io: io, mac: mac, log: logger, name: name}
}

// DeviceID implements Device.
func (n *Net) DeviceID() uint32 { return DeviceIDNet }

// Features implements Device: checksum and TSO offloads both ways (the tap
// takes what the guest sends; what the guest receives is set on the tap
// when the driver accepts it), mergeable receive buffers, MAC and link
// status.
func (n *Net) Features() uint64 {
	return 1<<FeatureIndirectDesc | 1<<FeatureEventIdx |
		1<<netFCsum | 1<<netFGuestCsum | 1<<netFMAC |
		1<<netFGuestTSO4 | 1<<netFGuestTSO6 | 1<<netFGuestECN |
		1<<netFHostTSO4 | 1<<netFHostTSO6 | 1<<netFHostECN |
		1<<netFMrgRxbuf | 1<<netFStatus
}

// QueueMaxSizes implements Device: one receive and one transmit queue.
func (n *Net) QueueMaxSizes() []uint16 { return []uint16{netQueueSize, netQueueSize} }

// ReadConfig implements Device: mac, status, max_virtqueue_pairs.
func (n *Net) ReadConfig(off uint64, data []byte) {
	var cfg [10]byte
	copy(cfg[0:6], n.mac)
	binary.LittleEndian.PutUint16(cfg[6:], netSLinkUp)
	binary.LittleEndian.PutUint16(cfg[8:], 1)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// WriteConfig implements Device: legacy drivers may write the MAC; it is
// ignored, the device keeps its own.
func (n *Net) WriteConfig(uint64, []byte) {}

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

// Activate implements Device.
func (n *Net) Activate(env ActivateEnv) error {
	if !env.Queues[netRX].Ready || !env.Queues[netTX].Ready {
		return fmt.Errorf("receive or transmit queue not set up")
	}
	n.mrg = env.Has(netFMrgRxbuf)
	n.hdrLen = 10
	if n.mrg || env.Has(FeatureVersion1) {
		n.hdrLen = vnetHdrSize
	}
	if err := n.io.SetHeaderSize(n.hdrLen); err != nil {
		return err
	}
	if err := n.io.SetOffload(OffloadFlags(env.Features)); err != nil {
		return err
	}
	n.stop = make(chan struct{})
	n.wg.Add(2)
	go n.rxLoop(env)
	go n.txLoop(env)
	return nil
}

// Reset implements Device.
func (n *Net) Reset() {
	if n.stop == nil {
		return
	}
	close(n.stop)
	n.io.Interrupt()
	n.wg.Wait()
	n.io.Resume()
	n.stop = nil
}

// Close stops the device; the caller closes the tap.
func (n *Net) Close() error {
	n.Reset()
	return nil
}

func (n *Net) stopped() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

func (n *Net) logOnce(kind, format string, args ...any) {
	if _, seen := n.once.LoadOrStore(kind, true); !seen && n.log != nil {
		n.log.Printf("%s: "+format, append([]any{n.name}, args...)...)
	}
}

// txLoop sends what the guest transmits, straight from guest memory.
func (n *Net) txLoop(env ActivateEnv) {
	defer n.wg.Done()
	q, kick := env.Queues[netTX], env.Kicks[netTX]
	var chain Chain
	var iov iovecs
	for {
		select {
		case <-n.stop:
			return
		case <-kick:
		}
		for {
			for {
				ok, err := q.Pop(&chain)
				if err != nil {
					env.Fail(fmt.Errorf("transmit queue: %w", err))
					return
				}
				if !ok {
					break
				}
				if !n.transmit(&chain, &iov) && n.stopped() {
					return
				}
				q.Push(chain.Head, 0)
			}
			if !q.EnableNotifications() {
				break
			}
		}
		if q.ShouldInterrupt() {
			env.Interrupt()
		}
	}
}

// transmit writes one frame; a malformed one is dropped and counted. It
// returns false when the write was interrupted by a stop.
func (n *Net) transmit(c *Chain, iov *iovecs) bool {
	iov.reset()
	total := 0
	for _, b := range c.Buffers {
		if b.Writable {
			n.Stats.TxDropped.Add(1)
			n.logOnce("txwritable", "dropping a transmitted frame with a device-writable buffer")
			return true
		}
		total += len(b.Data)
		iov.add(b.Data)
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

// rxLoop receives frames from the backend into the guest's buffers.
func (n *Net) rxLoop(env ActivateEnv) {
	defer n.wg.Done()
	q, kick := env.Queues[netRX], env.Kicks[netRX]
	buf := make([]byte, maxFrame+n.hdrLen)
	var chain Chain
	for {
		size, err := n.io.ReadPacket(buf)
		if err != nil {
			if n.stopped() {
				return
			}
			// A backend error (the tap detached, say) must not spin:
			// try again a little later.
			n.logOnce("rxerr", "reading from the backend: %v", err)
			select {
			case <-n.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if size < n.hdrLen {
			n.Stats.RxDropped.Add(1)
			continue
		}
		ok, err := n.deliver(env, q, kick, &chain, buf[:size])
		if err != nil {
			env.Fail(fmt.Errorf("receive queue: %w", err))
			return
		}
		if !ok {
			return // stopped while waiting for buffers
		}
		if q.ShouldInterrupt() {
			env.Interrupt()
		}
	}
}

// waitBuffers waits until the driver offers receive buffers; false when
// the device stops first.
func (n *Net) waitBuffers(q *Queue, kick <-chan struct{}) bool {
	for !q.EnableNotifications() {
		select {
		case <-n.stop:
			return false
		case <-kick:
		}
	}
	return true
}

// deliver places one frame (with its header) in receive chains: one chain
// without mergeable buffers, as many as it takes with them. The used
// elements appear together, after num_buffers is set.
func (n *Net) deliver(env ActivateEnv, q *Queue, kick <-chan struct{}, c *Chain, frame []byte) (bool, error) {
	if n.hdrLen == vnetHdrSize {
		binary.LittleEndian.PutUint16(frame[10:], 1) // num_buffers, fixed below
	}
	var first []byte // where the first chain's header went
	chains := uint16(0)
	rest := frame
	for len(rest) > 0 {
		if !q.HasAvailable() && !n.waitBuffers(q, kick) {
			return false, nil
		}
		ok, err := q.Pop(c)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		room := c.WritableLen()
		if !n.mrg && room < len(frame) {
			// Without mergeable buffers a frame must fit one chain.
			q.Unpop()
			n.Stats.RxDropped.Add(1)
			n.logOnce("rxsmall", "dropping a %d-byte frame: receive buffers hold %d", len(frame), room)
			return true, nil
		}
		written := 0
		for _, b := range c.Buffers {
			if !b.Writable || len(rest) == 0 {
				continue
			}
			m := copy(b.Data, rest)
			if first == nil && written == 0 {
				first = b.Data
			}
			rest = rest[m:]
			written += m
		}
		if written == 0 {
			// A chain with no writable room: return it empty.
			q.AddUsed(c.Head, 0)
			continue
		}
		q.AddUsed(c.Head, uint32(written))
		chains++
	}
	if n.mrg && chains > 1 && len(first) >= vnetHdrSize {
		binary.LittleEndian.PutUint16(first[10:], chains)
	}
	q.PublishUsed()
	n.Stats.RxPackets.Add(1)
	n.Stats.RxBytes.Add(uint64(len(frame) - n.hdrLen))
	storeMax(&n.Stats.RxLargest, uint64(len(frame)-n.hdrLen))
	return true, nil
}
