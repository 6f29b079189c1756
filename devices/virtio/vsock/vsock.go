// Package vsock is virtio-vsock (device ID 19) with its data path in the
// host kernel's vhost-vsock: host programs reach the guest at its context
// ID with AF_VSOCK sockets, and the guest reaches the host at CID 2. The
// receive and transmit queues are vhost-vsock's; the event queue, used
// only for transport reset events (which gokvm sends once, to a restored
// guest: its connections are gone), stays here, its buffers otherwise
// kept untouched; the config space (the guest's CID) is gokvm's.
package vsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/vhost"
	"github.com/gokvm/gokvm/vmm"
)

// DeviceID is virtio-vsock's.
const DeviceID = 19

// The vhost-vsock device and the module that provides it.
const (
	VhostVsockDevice = "/dev/vhost-vsock"
	vhostVsockModule = "vhost_vsock"
)

// Queues, in the virtio spec's order; rx and tx are vhost-vsock's rings 0
// and 1.
const (
	queueRX    = 0
	queueTX    = 1
	queueEvent = 2
	queueSize  = virtio.MaxQueueSize
)

// featureSeqpacket is VIRTIO_VSOCK_F_SEQPACKET.
const featureSeqpacket = 1

var (
	_ virtio.FDNotified = (*Vsock)(nil)
	_ vmm.Pauser        = (*Vsock)(nil)
	_ io.Closer         = (*Vsock)(nil)
)

// Vsock is a virtio-vsock device backed by /dev/vhost-vsock, which it
// owns: Close closes it, and the CID is free again.
type Vsock struct {
	name  string
	cid   uint64
	log   *log.Logger
	rings *vhost.Rings
	// kernel is what the kernel's vhost-vsock supports.
	kernel uint64

	// mu serialises Activate, Reset and Close for the goroutine that
	// tells a restored guest its connections are gone (event.go).
	mu   sync.Mutex
	stop chan struct{} // nil when it does not run
	wg   sync.WaitGroup
}

// New opens /dev/vhost-vsock and claims cid for the guest. A missing or
// forbidden device, or a CID another VM holds, is a vmm.ConfigError
// naming it.
func New(name string, cid uint64, logger *log.Logger) (*Vsock, error) {
	d, err := vhost.Open(VhostVsockDevice, vhostVsockModule)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	v, err := newOn(name, cid, d, logger)
	if err != nil {
		d.Close()
		return nil, err
	}
	return v, nil
}

func newOn(name string, cid uint64, d *vhost.Dev, logger *log.Logger) (*Vsock, error) {
	feat, err := d.Features()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := d.VsockSetGuestCID(cid); err != nil {
		return nil, cidError(name, cid, err)
	}
	v := &Vsock{name: name, cid: cid, log: logger, kernel: feat}
	v.rings, err = vhost.NewRings(name, d, []int{queueRX, queueTX}, running{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return v, nil
}

// cidError says what the user can do about a CID the kernel refused.
func cidError(name string, cid uint64, err error) error {
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return vmm.ConfigCause(err, "%s: vsock CID %d is in use by another VM (VHOST_VSOCK_SET_GUEST_CID: %v); give this one another --vsock CID", name, cid, unix.EADDRINUSE)
	case errors.Is(err, unix.EINVAL):
		return vmm.ConfigCause(err, "%s: the kernel refuses vsock CID %d (%v)", name, cid, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// offered is what the device offers the driver: the ring features and
// SEQPACKET, as far as the kernel supports them.
func offered(kernel uint64) uint64 {
	return (1<<virtio.FeatureIndirectDesc | 1<<virtio.FeatureEventIdx | 1<<featureSeqpacket) & kernel
}

// DeviceID implements virtio.Device.
func (v *Vsock) DeviceID() uint32 { return DeviceID }

// Features implements virtio.Device.
func (v *Vsock) Features() uint64 { return offered(v.kernel) }

// QueueMaxSizes implements virtio.Device: rx, tx, event.
func (v *Vsock) QueueMaxSizes() []uint16 { return []uint16{queueSize, queueSize, queueSize} }

// FDNotifiedQueues implements virtio.FDNotified: rx and tx are the
// kernel's.
func (v *Vsock) FDNotifiedQueues() []int { return []int{queueRX, queueTX} }

// ReadConfig implements virtio.Device: le64 guest_cid.
func (v *Vsock) ReadConfig(off uint64, data []byte) { readConfig(v.cid, off, data) }

func readConfig(cid uint64, off uint64, data []byte) {
	var cfg [8]byte
	binary.LittleEndian.PutUint64(cfg[:], cid)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// WriteConfig implements virtio.Device: the config space is read-only.
func (v *Vsock) WriteConfig(uint64, []byte) {}

// Activate implements virtio.Device: rx and tx go to vhost-vsock, which
// starts running; the event queue's buffers stay the driver's, but for
// the one event a restored device sends (sendTransportReset).
func (v *Vsock) Activate(env virtio.ActivateEnv) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.rings.Activate(env, env.Features&v.kernel); err != nil {
		return err
	}
	if env.Restored && queueEvent < len(env.Queues) && env.Queues[queueEvent].Ready {
		v.stop = make(chan struct{})
		v.wg.Add(1)
		go v.sendTransportReset(env, v.stop)
	}
	return nil
}

// Reset implements virtio.Device.
func (v *Vsock) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopEvents()
	v.rings.Reset()
}

// stopEvents stops the event goroutine and waits for it; v.mu is held.
func (v *Vsock) stopEvents() {
	if v.stop != nil {
		close(v.stop)
		v.wg.Wait()
		v.stop = nil
	}
}

// Pause implements vmm.Pauser: vhost-vsock stops running, touching no
// guest memory until Resume.
func (v *Vsock) Pause() { v.rings.Pause() }

// Resume implements vmm.Pauser.
func (v *Vsock) Resume() { v.rings.Resume() }

// Close stops the device and closes /dev/vhost-vsock, freeing the CID.
func (v *Vsock) Close() error {
	v.mu.Lock()
	v.stopEvents()
	v.mu.Unlock()
	return v.rings.Close()
}

// running starts and stops vhost-vsock as a whole.
type running struct{}

func (running) Attach(d *vhost.Dev) error { return d.VsockSetRunning(true) }
func (running) Detach(d *vhost.Dev) error { return d.VsockSetRunning(false) }
