// Package net is virtio-net: a network device behind a virtio transport,
// sending and receiving Ethernet frames through a PacketIO, in gokvm a tap
// interface (OpenTap, NewTapIO). Frames pass between guest RAM and the tap
// with their virtio-net header unchanged, so checksum and segmentation
// offloads work both ways.
package net

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	stdnet "net"
	"sync"

	"github.com/gokvm/gokvm/devices/virtio"
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

	netQueueSize = virtio.MaxQueueSize
	netRX        = 0
	netTX        = 1
	// maxFrame bounds one frame with its header: a 64 KiB GSO packet and
	// its Ethernet and virtio-net headers.
	maxFrame = 65536 + 14 + 4 + vnetHdrSize + 64
)

// vnetHdrSize is struct virtio_net_hdr_v1 (with num_buffers): the header
// both the guest and the tap use, so frames pass between them unchanged.
const vnetHdrSize = 12

var (
	_ virtio.Device = (*Net)(nil)
	_ io.Closer     = (*Net)(nil)
)

// Net is a virtio-net device over a PacketIO (a tap), which it owns: Close
// closes it.
type Net struct {
	io    PacketIO
	mac   stdnet.HardwareAddr
	log   *log.Logger
	name  string
	Stats NetStats

	// run serialises Activate, Reset and Close, which any number of
	// vcpus (and the machine) may call at once.
	run    sync.Mutex
	stop   chan struct{} // closed to stop the loops; nil when stopped
	wg     sync.WaitGroup
	closed bool

	closeOnce sync.Once
	closeErr  error

	once sync.Map // kinds of guest error already logged

	hdrLen int
	mrg    bool

	// frames is what the device holds of the backend's frames beyond
	// the rings: the saved state's (state.go).
	frames heldFrames
}

// New makes a virtio-net device sending to and receiving from io; the
// device owns io from then on.
func New(name string, io PacketIO, mac stdnet.HardwareAddr, logger *log.Logger) *Net {
	return &Net{io: io, mac: mac, log: logger, name: name}
}

// DeviceID implements virtio.Device.
func (n *Net) DeviceID() uint32 { return virtio.DeviceIDNet }

// Features implements virtio.Device: checksum and TSO offloads both ways
// (the tap takes what the guest sends; what the guest receives is set on
// the tap when the driver accepts it), mergeable receive buffers, MAC and
// link status. A NoGSO backend takes no segmentation offload.
func (n *Net) Features() uint64 {
	f := uint64(netFeatures)
	if _, ok := n.io.(NoGSO); ok {
		f &^= hostGSO
	}
	return f
}

// netFeatures is what virtio-net offers (Net.Features).
const netFeatures = 1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx |
	1<<netFCsum | 1<<netFGuestCsum | 1<<netFMAC |
	1<<netFGuestTSO4 | 1<<netFGuestTSO6 | 1<<netFGuestECN |
	1<<netFHostTSO4 | 1<<netFHostTSO6 | 1<<netFHostECN |
	1<<netFMrgRxbuf | 1<<netFStatus

// QueueMaxSizes implements virtio.Device: one receive and one transmit
// queue.
func (n *Net) QueueMaxSizes() []uint16 { return []uint16{netQueueSize, netQueueSize} }

// ReadConfig implements virtio.Device: mac, status, max_virtqueue_pairs.
func (n *Net) ReadConfig(off uint64, data []byte) { readConfig(n.mac, off, data) }

// readConfig reads virtio-net's config space: mac, status (link up),
// max_virtqueue_pairs (1).
func readConfig(mac stdnet.HardwareAddr, off uint64, data []byte) {
	var cfg [10]byte
	copy(cfg[0:6], mac)
	binary.LittleEndian.PutUint16(cfg[6:], netSLinkUp)
	binary.LittleEndian.PutUint16(cfg[8:], 1)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// WriteConfig implements virtio.Device: legacy drivers may write the MAC;
// it is ignored, the device keeps its own.
func (n *Net) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device.
func (n *Net) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[netRX].Ready || !env.Queues[netTX].Ready {
		return fmt.Errorf("receive or transmit queue not set up")
	}
	n.run.Lock()
	defer n.run.Unlock()
	switch {
	case n.closed:
		return fmt.Errorf("%s: %w", n.name, errClosed)
	case n.stop != nil:
		return fmt.Errorf("%s: activated twice", n.name)
	}
	n.mrg = env.Has(netFMrgRxbuf)
	n.hdrLen = 10
	if n.mrg || env.Has(virtio.FeatureVersion1) {
		n.hdrLen = vnetHdrSize
	}
	if err := n.io.SetHeaderSize(n.hdrLen); err != nil {
		return err
	}
	if err := n.io.SetOffload(OffloadFlags(env.Features)); err != nil {
		return err
	}
	first := n.frames.takeRestored(env.Restored, n.hdrLen, n.logOnce)
	stop := make(chan struct{})
	n.stop = stop
	n.wg.Add(2)
	go n.rxLoop(env, stop, first)
	go n.txLoop(env, stop)
	return nil
}

// Reset implements virtio.Device: the loops stop between frames, a
// blocked backend read or write is interrupted, and Reset waits for them.
func (n *Net) Reset() {
	n.run.Lock()
	defer n.run.Unlock()
	n.stopLocked()
}

func (n *Net) stopLocked() {
	if n.stop == nil {
		return
	}
	close(n.stop)
	n.io.Interrupt()
	n.wg.Wait()
	n.io.Resume()
	n.stop = nil
}

// Close stops the device and closes its PacketIO (a tap gokvm created
// goes with it). Every call returns the first one's result, once it is
// done.
func (n *Net) Close() error {
	n.run.Lock()
	n.stopLocked()
	n.closed = true
	n.run.Unlock()
	n.closeOnce.Do(func() { n.closeErr = n.io.Close() })
	return n.closeErr
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
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
