package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gokvm/gokvm/devices/pci"
	"github.com/gokvm/gokvm/vmm"
)

// The virtio-pci layout (virtio 1.2, 4.1), modern only: a PCI function
// whose vendor-specific capabilities point into BAR 0, one page per
// structure (so a driver maps each alone), and, on a machine with an MSI
// controller, an MSI-X table with a vector per queue and one for
// configuration changes in BAR 1.
const (
	pciCommonOff  = 0x0000
	pciCommonLen  = 0x3c // with queue_notify_data and queue_reset, which read as zero: no NOTIFICATION_DATA, no RING_RESET
	pciISROff     = 0x1000
	pciISRLen     = 1
	pciDeviceOff  = 0x2000
	pciDeviceLen  = 0x100 // as much config space as virtio-mmio's window has
	pciNotifyOff  = 0x3000
	pciNotifyLen  = 4 // one doorbell for every queue (a notify_off_multiplier of 0, as kvmtool has it)
	pciRegsBAR    = 0
	pciRegsBARLen = 0x4000
	pciMSIXBAR    = 1

	// The virtio structure types (cfg_type).
	pciCapCommon = 1
	pciCapNotify = 2
	pciCapISR    = 3
	pciCapDevice = 4
	pciCapPCI    = 5

	// pciDeviceIDBase is a modern device's PCI device ID less its
	// virtio device type (4.1.2.1); pciSubsystemBase is kvmtool's
	// subsystem ID base (non-transitional devices have 0x40 or higher).
	pciDeviceIDBase  = 0x1040
	pciSubsystemBase = 0x40
	// pciRevision is 1 for a non-transitional device.
	pciRevision = 1

	// NoVector (VIRTIO_MSI_NO_VECTOR) is a vector register's value for
	// no MSI-X vector.
	NoVector = 0xffff
)

// The common configuration structure's fields (struct
// virtio_pci_common_cfg), by offset.
const (
	commonDeviceFeatureSelect = 0x00
	commonDeviceFeature       = 0x04
	commonDriverFeatureSelect = 0x08
	commonDriverFeature       = 0x0c
	commonConfigMSIXVector    = 0x10
	commonNumQueues           = 0x12
	commonDeviceStatus        = 0x14
	commonConfigGeneration    = 0x15
	commonQueueSelect         = 0x16
	commonQueueSize           = 0x18
	commonQueueMSIXVector     = 0x1a
	commonQueueEnable         = 0x1c
	commonQueueNotifyOff      = 0x1e
	commonQueueDesc           = 0x20
	commonQueueDriver         = 0x28
	commonQueueDevice         = 0x30
)

// pciClasses are the PCI class and subclass a virtio device type says it
// is (as QEMU has them); the others are "unassigned" (0xff).
var pciClasses = map[uint32][2]uint8{
	DeviceIDNet:   {0x02, 0x00}, // network, Ethernet
	DeviceIDBlock: {0x01, 0x80}, // mass storage, other
	3:             {0x07, 0x80}, // console: communication, other
}

// PCI is the virtio-pci transport of one device: a PCI function (its
// vmm.MMIODevice is the function's configuration space in ECAM), whose
// BAR 0 holds the common configuration, ISR status, device
// configuration and notification structures. It implements vmm.Pauser,
// and refuses to be saved.
//
// Interrupts: while the guest has MSI-X enabled, each queue's used
// buffers signal the queue's vector and configuration changes the
// configuration vector (NoVector: none); otherwise they set the ISR
// status and assert INTx, which reading the ISR status deasserts.
type PCI struct {
	transport
	*pci.Function
	msix *pci.MSIX // nil on a machine without an MSI controller
	// signalVector[v] signals MSI-X vector v: made once, so that
	// interruptLocked hands the edge to its caller, to raise outside
	// mu, without allocating.
	signalVector []func()

	configVector uint16
	queueVectors []uint16

	// notes are each queue's notification, watched in BAR 0's doorbell
	// wherever the guest maps it (nil where the host has no
	// ioeventfds); the goroutines serving the queues wait on those that
	// do not go to a host kernel driver.
	notes []vmm.EventFDNotification
	// pciCfg is the PCI_CFG capability's offset.
	pciCfg int

	closeOnce sync.Once
	closeErr  error
}

var (
	_ vmm.MMIODevice  = (*PCI)(nil)
	_ vmm.Pauser      = (*PCI)(nil)
	_ vmm.StateDevice = (*PCI)(nil)
	_ io.Closer       = (*PCI)(nil)
)

// PCISpec makes the machine's description of a virtio-pci device: a
// function on the PCI host bridge's bus (the machine needs
// pci.HostSpec), its notifications routed through KVM ioeventfds where
// the host has them. The device is the machine's from then on, as with
// Spec.
func PCISpec(name string, dev Device) vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name:     name,
		Area:     vmm.AreaPCI,
		Size:     pci.FunctionSize,
		Describe: pci.DescribeFunction,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			return NewPCI(name, dev, env)
		},
	}
}

// NewPCI wraps dev in a virtio-pci transport, a function made with env.
func NewPCI(name string, dev Device, env vmm.DeviceEnv) (*PCI, error) {
	class := pciClasses[dev.DeviceID()]
	if class == [2]uint8{} {
		class = [2]uint8{0xff, 0x00}
	}
	fn := pci.NewFunction(name, pci.Identity{
		Vendor: pci.VendorRedHat, Device: uint16(pciDeviceIDBase + dev.DeviceID()),
		SubsystemVendor: pci.VendorRedHat, Subsystem: uint16(pciSubsystemBase + dev.DeviceID()),
		Revision: pciRevision, Class: class[0], Subclass: class[1],
	}, env)
	t := &PCI{Function: fn, queueVectors: make([]uint16, len(dev.QueueMaxSizes()))}
	t.init(name, Modern, dev, env.Mem, env.Log, t)
	t.OnFault(env.Fault)
	if err := t.setUp(env); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// setUp gives the function its BARs and capabilities, and the queues
// their notifications.
func (t *PCI) setUp(env vmm.DeviceEnv) error {
	if err := t.notifications(env); err != nil {
		return err
	}
	if err := t.AddBAR(pciRegsBAR, pciRegsBARLen, (*pciRegs)(t), t.watchDoorbell); err != nil {
		return err
	}
	m, err := t.AddMSIX(t.NumQueues()+1, pciMSIXBAR)
	switch {
	case errors.Is(err, vmm.ErrUnsupported):
		// INTx only: the guest sees no MSI-X capability.
	case err != nil:
		return fmt.Errorf("MSI-X: %w", err)
	default:
		t.msix = m
		t.signalVector = make([]func(), m.Vectors())
		for v := range t.signalVector {
			t.signalVector[v] = func() { m.Signal(v) }
		}
	}
	for _, c := range []struct {
		typ      uint8
		off, len uint32
	}{
		{pciCapCommon, pciCommonOff, pciCommonLen},
		{pciCapNotify, pciNotifyOff, pciNotifyLen},
		{pciCapISR, pciISROff, pciISRLen},
		{pciCapDevice, pciDeviceOff, pciDeviceLen},
	} {
		body := virtioCap(c.typ, pciRegsBAR, c.off, c.len)
		if c.typ == pciCapNotify {
			body = append(body, 0, 0, 0, 0) // notify_off_multiplier 0
		}
		if _, err := t.AddCapability(pciCapVendor, body, nil); err != nil {
			return err
		}
	}
	// PCI_CFG: the driver may reach the BARs through configuration
	// space; it writes bar, offset, length and data.
	body := append(virtioCap(pciCapPCI, 0, 0, 0), 0, 0, 0, 0)
	writable := make([]byte, len(body))
	writable[2] = 0xff // bar
	for i := 6; i < len(body); i++ {
		writable[i] = 0xff // offset, length, pci_cfg_data
	}
	off, err := t.AddCapability(pciCapVendor, body, writable)
	if err != nil {
		return err
	}
	t.pciCfg = off
	t.AddHook(off+pciCfgData, 4, t.pciCfgAccess)
	return nil
}

// pciCapVendor is the vendor-specific capability ID virtio's structures
// use.
const pciCapVendor = 0x09

// virtioCap is a struct virtio_pci_cap after its ID and next pointer:
// cap_len, cfg_type, bar, id, padding, offset, length.
func virtioCap(typ uint8, bar uint8, off, length uint32) []byte {
	b := make([]byte, 14)
	b[0] = 16 // cap_len: the ID and next pointer too
	if typ == pciCapNotify || typ == pciCapPCI {
		b[0] = 20
	}
	b[1], b[2] = typ, bar
	binary.LittleEndian.PutUint32(b[6:], off)
	binary.LittleEndian.PutUint32(b[10:], length)
	return b
}

// Where the PCI_CFG capability's fields are, from its start.
const (
	pciCfgBar    = 4
	pciCfgOffset = 8
	pciCfgLength = 12
	pciCfgData   = 16
)

// notifications makes each queue's notification, for the goroutine
// serving the queue or the host kernel driver to wait on.
func (t *PCI) notifications(env vmm.DeviceEnv) error {
	if env.NewNotification == nil {
		return nil
	}
	byFD := fdNotifiedQueues(t.dev)
	for i := 0; i < t.NumQueues(); i++ {
		n, err := env.NewNotification()
		if errors.Is(err, vmm.ErrUnsupported) {
			t.notes = nil
			return nil // notifications come as MMIO writes instead
		}
		if err != nil {
			return fmt.Errorf("queue %d notifications: %w", i, err)
		}
		t.notes = append(t.notes, n)
		t.notifyWith(i, n, byFD[i])
	}
	return nil
}

// watchDoorbell watches the doorbell in BAR 0's window for each queue's
// notification (a 16-bit write of the queue's index), wherever the
// guest mapped it.
func (t *PCI) watchDoorbell(w vmm.Window) error {
	for i, n := range t.notes {
		err := w.WatchWrite(n, pciNotifyOff, 2, uint64(i))
		if errors.Is(err, vmm.ErrUnsupported) {
			return nil // the writes exit to gokvm
		}
		if err != nil {
			return fmt.Errorf("queue %d notifications: %w", i, err)
		}
	}
	return nil
}

// interruptLocked implements layout.
func (t *PCI) interruptLocked(cause uint32, queue int) (edge func()) {
	if t.msix != nil && t.msix.Enabled() {
		vector := t.configVector
		if cause == InterruptUsedBuffer {
			if queue < 0 || queue >= len(t.queueVectors) {
				return nil
			}
			vector = t.queueVectors[queue]
		} else {
			t.intStatus |= cause // the configuration bit, whatever the vector (4.1.4.5)
		}
		if int(vector) < len(t.signalVector) {
			// Outside mu: MSIX.Signal checks the mask and MSI-X
			// enable under its own lock, so a vector masked or
			// disabled meanwhile holds the message pending or
			// drops it, as it would have a moment later.
			return t.signalVector[vector]
		}
		return nil
	}
	// INTx goes up under mu: raised after it, the line could go up
	// after a concurrent ISR read cleared the status and lowered it,
	// and stay up with nothing to read.
	t.intStatus |= cause
	t.SetINTx(true)
	return nil
}

// resetLocked implements layout: no vectors, each queue at its largest
// size (virtio 1.2, 4.1.4.3: queue_size reads the largest after a
// reset), INTx deasserted.
func (t *PCI) resetLocked() {
	t.configVector = NoVector
	for i := range t.queueVectors {
		t.queueVectors[i] = NoVector
	}
	for i := range t.queues {
		t.queues[i].size = t.queues[i].max
	}
	t.SetINTx(false)
}

// vector is what a vector register holds after the driver wrote v: v
// when the MSI-X table has it, NoVector otherwise (the driver reads it
// back to learn the mapping failed, 4.1.5.1.2).
func (t *PCI) vector(v uint16) uint16 {
	if t.msix != nil && int(v) < t.msix.Vectors() {
		return v
	}
	return NoVector
}

// pciRegs is BAR 0's window: the virtio structures.
type pciRegs PCI

var _ vmm.MMIODevice = (*pciRegs)(nil)

// ReadMMIO implements vmm.MMIODevice.
func (r *pciRegs) ReadMMIO(off uint64, data []byte) {
	t := (*PCI)(r)
	clear(data)
	n := uint64(len(data))
	switch {
	case off < pciCommonOff+pciCommonLen:
		t.mu.Lock()
		t.readCommon(off, data)
		t.mu.Unlock()
	case off == pciISROff:
		t.mu.Lock()
		data[0] = byte(t.intStatus)
		t.intStatus = 0
		t.SetINTx(false)
		t.mu.Unlock()
	case off >= pciDeviceOff && off+n <= pciDeviceOff+pciDeviceLen:
		t.mu.Lock()
		t.dev.ReadConfig(off-pciDeviceOff, data)
		t.mu.Unlock()
	}
}

// WriteMMIO implements vmm.MMIODevice.
func (r *pciRegs) WriteMMIO(off uint64, data []byte) {
	t := (*PCI)(r)
	n := uint64(len(data))
	switch {
	case off == pciCommonOff+commonDeviceStatus && n == 1:
		t.writeStatus(uint32(data[0])) // takes the locks itself
	case off < pciCommonOff+pciCommonLen:
		t.mu.Lock()
		t.writeCommon(off, data)
		t.mu.Unlock()
	case off == pciNotifyOff && (n == 2 || n == 4):
		t.Kick(int(binary.LittleEndian.Uint16(data)))
	case off >= pciDeviceOff && off+n <= pciDeviceOff+pciDeviceLen:
		t.mu.Lock()
		t.dev.WriteConfig(off-pciDeviceOff, data)
		t.mu.Unlock()
	}
}

// readCommon reads a common configuration field, in its own width (a
// 64-bit one also as two 32-bit halves); any other access reads as
// zero. t.mu is held.
func (t *PCI) readCommon(off uint64, data []byte) {
	q := t.selected()
	var v uint64
	switch field(off, len(data)) {
	case fieldAt{commonDeviceFeatureSelect, 4}:
		v = uint64(t.devFeatSel)
	case fieldAt{commonDeviceFeature, 4}:
		v = uint64(t.deviceFeatures())
	case fieldAt{commonDriverFeatureSelect, 4}:
		v = uint64(t.drvFeatSel)
	case fieldAt{commonDriverFeature, 4}:
		if t.drvFeatSel <= 1 {
			v = t.driverFeat >> (32 * t.drvFeatSel) & 0xffffffff
		}
	case fieldAt{commonConfigMSIXVector, 2}:
		v = uint64(t.configVector)
	case fieldAt{commonNumQueues, 2}:
		v = uint64(len(t.queues))
	case fieldAt{commonDeviceStatus, 1}:
		v = uint64(t.status)
	case fieldAt{commonConfigGeneration, 1}:
		v = 0 // no device's configuration changes under the driver
	case fieldAt{commonQueueSelect, 2}:
		v = uint64(t.queueSel)
	default:
		if q == nil {
			return // no such queue: its fields read as zero (queue_size 0: unavailable)
		}
		v = t.readQueue(q, off, len(data))
	}
	putLE(data, v)
}

// readQueue reads a field of the selected queue; t.mu is held.
func (t *PCI) readQueue(q *queueConfig, off uint64, n int) uint64 {
	switch f := field(off, n); f {
	case fieldAt{commonQueueSize, 2}:
		return uint64(q.size)
	case fieldAt{commonQueueMSIXVector, 2}:
		return uint64(t.queueVectors[t.queueSel])
	case fieldAt{commonQueueEnable, 2}:
		return uint64(b2u(q.ready))
	case fieldAt{commonQueueNotifyOff, 2}:
		return 0 // every queue's doorbell is the same
	default:
		for _, a := range []struct {
			off  uint64
			addr uint64
		}{{commonQueueDesc, q.desc}, {commonQueueDriver, q.avail}, {commonQueueDevice, q.used}} {
			switch f {
			case fieldAt{a.off, 8}:
				return a.addr
			case fieldAt{a.off, 4}:
				return a.addr & 0xffffffff
			case fieldAt{a.off + 4, 4}:
				return a.addr >> 32
			}
		}
	}
	return 0
}

// writeCommon writes a common configuration field but device_status, in
// its own width (a 64-bit one also as two 32-bit halves); any other
// access is ignored. t.mu is held.
func (t *PCI) writeCommon(off uint64, data []byte) {
	v := getLE(data)
	switch f := field(off, len(data)); f {
	case fieldAt{commonDeviceFeatureSelect, 4}:
		t.devFeatSel = uint32(v)
	case fieldAt{commonDriverFeatureSelect, 4}:
		t.drvFeatSel = uint32(v)
	case fieldAt{commonDriverFeature, 4}:
		t.writeDriverFeatures("driver_feature", uint32(v))
	case fieldAt{commonConfigMSIXVector, 2}:
		t.configVector = t.vector(uint16(v))
	case fieldAt{commonQueueSelect, 2}:
		t.queueSel = uint32(v)
	case fieldAt{commonQueueSize, 2}:
		t.writeQueue(fieldSize, "queue_size", uint32(v))
	case fieldAt{commonQueueMSIXVector, 2}:
		if int(t.queueSel) < len(t.queueVectors) {
			t.queueVectors[t.queueSel] = t.vector(uint16(v))
		}
	case fieldAt{commonQueueEnable, 2}:
		// Only 1 is the driver's to write (4.1.4.3.2): a queue is
		// disabled by a reset.
		if v == 1 {
			t.writeQueue(fieldReady, "queue_enable", 1)
		}
	default:
		t.writeQueueAddress(f, v)
	}
}

// queueAddresses are the common configuration's 64-bit queue fields.
var queueAddresses = []struct {
	off     uint64
	low, hi queueField
	name    string
}{
	{commonQueueDesc, fieldDescLow, fieldDescHigh, "queue_desc"},
	{commonQueueDriver, fieldDriverLow, fieldDriverHigh, "queue_driver"},
	{commonQueueDevice, fieldDeviceLow, fieldDeviceHigh, "queue_device"},
}

// writeQueueAddress writes a queue's ring address, whole or a half;
// t.mu is held.
func (t *PCI) writeQueueAddress(f fieldAt, v uint64) {
	for _, a := range queueAddresses {
		switch f {
		case fieldAt{a.off, 8}:
			t.writeQueue(a.low, a.name, uint32(v))
			t.writeQueue(a.hi, a.name, uint32(v>>32))
		case fieldAt{a.off, 4}:
			t.writeQueue(a.low, a.name, uint32(v))
		case fieldAt{a.off + 4, 4}:
			t.writeQueue(a.hi, a.name, uint32(v))
		}
	}
}

// fieldAt is an access: where, how wide.
type fieldAt struct {
	off uint64
	n   int
}

func field(off uint64, n int) fieldAt { return fieldAt{off, n} }

// putLE and getLE are the little-endian value of an access of 1 to 8
// bytes.
func putLE(b []byte, v uint64) {
	var x [8]byte
	binary.LittleEndian.PutUint64(x[:], v)
	copy(b, x[:])
}

func getLE(b []byte) uint64 {
	var x [8]byte
	copy(x[:], b)
	return binary.LittleEndian.Uint64(x[:])
}

// pciCfgAccess is the PCI_CFG capability's window onto the BARs (4.1.4.9):
// a write of pci_cfg_data writes its first length bytes at offset in the
// chosen BAR; a read reads them there first. Only aligned accesses of 1,
// 2 or 4 bytes are made; others do nothing.
func (t *PCI) pciCfgAccess(write bool) {
	c := t.ConfigBytes(t.pciCfg, 20)
	bar := int(c[pciCfgBar])
	off := binary.LittleEndian.Uint32(c[pciCfgOffset:])
	n := binary.LittleEndian.Uint32(c[pciCfgLength:])
	if (n != 1 && n != 2 && n != 4) || off%n != 0 {
		return
	}
	if write {
		t.BARAccess(bar, uint64(off), c[pciCfgData:pciCfgData+n], true)
		return
	}
	data := make([]byte, n)
	t.BARAccess(bar, uint64(off), data, false)
	t.SetConfigBytes(t.pciCfg+pciCfgData, data)
}

// SaveState implements vmm.StateDevice: a virtio-pci device is not saved
// yet.
func (t *PCI) SaveState() ([]byte, error) {
	return nil, fmt.Errorf("%w: %s is a virtio-pci device, whose state (configuration space, BARs, MSI-X table) is not saved yet; --virtio-transport mmio makes a machine that can be", vmm.ErrNotSaveable, t.name)
}

// RestoreState implements vmm.StateDevice: no state is taken.
func (t *PCI) RestoreState([]byte) error {
	return fmt.Errorf("%w: %s is a virtio-pci device, which is not restored yet", vmm.ErrNotSaveable, t.name)
}

// Close stops the device for good, unmaps its BARs, closes its
// notifications and the device's backend. Every call returns the first
// one's result.
func (t *PCI) Close() error {
	t.closeOnce.Do(func() {
		t.transport.Close()
		err := t.Function.Close()
		for _, n := range t.notes {
			n.Close()
		}
		if c, ok := t.dev.(io.Closer); ok {
			if cerr := c.Close(); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		t.closeErr = err
	})
	return t.closeErr
}
