package net

import (
	"fmt"
	"io"
	"log"
	stdnet "net"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/vmm"
)

// VhostNetDevice is the host kernel's vhost-net, and the module that
// provides it.
const (
	VhostNetDevice = "/dev/vhost-net"
	vhostNetModule = "vhost_net"
)

var (
	_ virtio.FDNotified = (*VhostNet)(nil)
	_ vmm.Pauser        = (*VhostNet)(nil)
	_ io.Closer         = (*VhostNet)(nil)
)

// VhostNet is virtio-net with its data path in the host kernel: vhost-net
// moves frames between the rings in guest RAM and the tap itself, while
// the config space (MAC, link status) and feature negotiation stay here.
// The guest sees the same device, features and offloads as with Net.
// It owns the tap and the vhost device: Close closes both.
type VhostNet struct {
	name  string
	tap   *Tap
	mac   stdnet.HardwareAddr
	log   *log.Logger
	rings *vhost.Rings
	// vhostFeatures is what the kernel's vhost-net supports.
	vhostFeatures uint64
}

// NewVhost opens /dev/vhost-net for a virtio-net device over tap. A
// missing or forbidden /dev/vhost-net is a vmm.ConfigError naming it.
// On error the tap stays the caller's.
func NewVhost(name string, tap *Tap, mac stdnet.HardwareAddr, logger *log.Logger) (*VhostNet, error) {
	d, err := vhost.Open(VhostNetDevice, vhostNetModule)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	feat, err := d.Features()
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if feat&(1<<virtio.FeatureVersion1) == 0 {
		d.Close()
		return nil, vmm.Configf("%s: this kernel's vhost-net lacks VIRTIO_F_VERSION_1 (features %#x)", name, feat)
	}
	n := &VhostNet{name: name, tap: tap, mac: mac, log: logger, vhostFeatures: feat}
	n.rings, err = vhost.NewRings(name, d, []int{netRX, netTX}, tapBackend{tap})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// ringFeatures are the features vhost-net implements itself (on the
// rings); the others (offloads, MAC, status) are the tap's or the config
// space's.
const ringFeatures = 1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx | 1<<netFMrgRxbuf

// vhostNetFeatures is what a vhost-net device offers: the userspace
// device's features, of its ring features only those the kernel supports.
func vhostNetFeatures(userspace, kernel uint64) uint64 {
	return userspace&^ringFeatures | userspace&ringFeatures&kernel
}

// kernelFeatures is what vhost-net is told of the negotiated features:
// those it knows. VHOST_NET_F_VIRTIO_NET_HDR is never set: the tap has
// IFF_VNET_HDR and takes the guest's header as it is.
func kernelFeatures(negotiated, kernel uint64) uint64 {
	return negotiated & kernel &^ (1 << vhost.FeatureNetVirtioHdr)
}

// DeviceID implements virtio.Device.
func (n *VhostNet) DeviceID() uint32 { return virtio.DeviceIDNet }

// Features implements virtio.Device: Net's features, as far as vhost-net
// supports them.
func (n *VhostNet) Features() uint64 {
	return vhostNetFeatures(netFeatures, n.vhostFeatures)
}

// QueueMaxSizes implements virtio.Device: receive and transmit.
func (n *VhostNet) QueueMaxSizes() []uint16 { return []uint16{netQueueSize, netQueueSize} }

// FDNotifiedQueues implements virtio.FDNotified: both queues are the
// kernel's.
func (n *VhostNet) FDNotifiedQueues() []int { return []int{netRX, netTX} }

// ReadConfig implements virtio.Device, as Net's.
func (n *VhostNet) ReadConfig(off uint64, data []byte) { readConfig(n.mac, off, data) }

// WriteConfig implements virtio.Device: ignored, as Net's.
func (n *VhostNet) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device: the tap's header size and offloads
// are matched to the driver's features, as Net does, then the rings go to
// vhost-net with the tap as their backend.
func (n *VhostNet) Activate(env virtio.ActivateEnv) error {
	if !env.Queues[netRX].Ready || !env.Queues[netTX].Ready {
		return fmt.Errorf("receive or transmit queue not set up")
	}
	hdrLen := 10
	if env.Has(netFMrgRxbuf) || env.Has(virtio.FeatureVersion1) {
		hdrLen = vnetHdrSize
	}
	if err := n.tap.SetHeaderSize(hdrLen); err != nil {
		return err
	}
	if err := n.tap.SetOffload(OffloadFlags(env.Features)); err != nil {
		return err
	}
	return n.rings.Activate(env, kernelFeatures(env.Features, n.vhostFeatures))
}

// Reset implements virtio.Device.
func (n *VhostNet) Reset() { n.rings.Reset() }

// Pause implements vmm.Pauser: the tap is detached, so vhost-net touches
// no guest memory until Resume.
func (n *VhostNet) Pause() { n.rings.Pause() }

// Resume implements vmm.Pauser.
func (n *VhostNet) Resume() { n.rings.Resume() }

// Close stops the device and closes vhost-net and the tap (a tap gokvm
// created goes with it).
func (n *VhostNet) Close() error {
	err := n.rings.Close()
	if terr := n.tap.Close(); err == nil {
		err = terr
	}
	return err
}

// Stats describes the device's traffic for --stats: vhost-net counts it
// in the kernel, on the tap.
func (n *VhostNet) Stats() string {
	return "vhost-net (traffic counted by the host kernel: ip -s link show " + n.tap.Name + ")"
}

// tapBackend attaches the tap to both of vhost-net's rings.
type tapBackend struct{ tap *Tap }

func (b tapBackend) set(d *vhost.Dev, fd int) error {
	for _, ring := range []uint32{netRX, netTX} {
		if err := d.NetSetBackend(ring, fd); err != nil {
			return err
		}
	}
	return nil
}

func (b tapBackend) Attach(d *vhost.Dev) error {
	if b.tap.f == nil {
		return fmt.Errorf("tap %s: closed", b.tap.Name)
	}
	return b.set(d, b.tap.fd)
}

func (b tapBackend) Detach(d *vhost.Dev) error { return b.set(d, -1) }

// SetHeaderSize sets the size of the virtio-net header the tap's frames
// carry (TUNSETVNETHDRSZ): the guest's, so frames pass unchanged.
func (t *Tap) SetHeaderSize(n int) error {
	hdr := int32(n)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(t.fd), unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdr))); e != 0 {
		return fmt.Errorf("tap %s: TUNSETVNETHDRSZ %d: %w", t.Name, n, e)
	}
	return nil
}
