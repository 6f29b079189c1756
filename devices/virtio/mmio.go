package virtio

import (
	"encoding/binary"
	"log"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/memory"
)

var (
	_ vmm.MMIODevice = (*MMIO)(nil)
	_ vmm.Pauser     = (*MMIO)(nil)
)

// MMIOSize is the window of one virtio-mmio device: registers up to 0x100,
// then the device's config space.
const MMIOSize = 0x200

// TransportVersion is the virtio-mmio register layout.
type TransportVersion int

const (
	// Modern is version 2 (virtio 1.x, VIRTIO_F_VERSION_1).
	Modern TransportVersion = 2
	// Legacy is version 1, for old guest kernels.
	Legacy TransportVersion = 1
)

// MMIO is the virtio-mmio transport of one device. It implements
// vmm.MMIODevice, seeing only offsets in its window, and vmm.Pauser. Any
// number of vcpus may access it at once.
//
// It follows virtio 1.2's device status rules (2.1, 4.2.2, and 4.2.4 for
// legacy): status bits only accumulate until a reset, and queue and
// feature registers are the driver's only while it sets the device up.
// A driver that breaks them has its write ignored and the device stops
// serving until it is reset (status.go).
type MMIO struct {
	transport
	pulse func()
}

// SetPulseFD gives the transport the machine's vmm.DeviceEnv.PulseFD
// before the guest runs, so that a device whose used-buffer interrupts a
// host kernel driver raises (vhost) has them raised with no goroutine of
// gokvm's in between (ActivateEnv.InterruptFD): InterruptStatus has
// USED_BUFFER whenever such queues run.
func (t *MMIO) SetPulseFD(f func(fd int) (func() error, error)) { t.setPulseFD(f) }

// NewMMIO wraps dev in a transport. pulse raises the device's (edge)
// interrupt.
func NewMMIO(name string, version TransportVersion, dev Device, mem *memory.GuestMemory, pulse func(), logger *log.Logger) *MMIO {
	t := &MMIO{pulse: pulse}
	t.init(name, version, dev, mem, logger, t)
	return t
}

// interruptLocked implements layout: the driver reads why in
// InterruptStatus.
func (t *MMIO) interruptLocked(cause uint32, queue int) (edge func()) {
	t.intStatus |= cause
	return t.pulse
}

// resetLocked implements layout: the transport holds every register.
func (t *MMIO) resetLocked() {}

// ReadMMIO implements vmm.MMIODevice.
func (t *MMIO) ReadMMIO(off uint64, data []byte) {
	clear(data)
	if off >= RegConfig {
		t.mu.Lock()
		t.dev.ReadConfig(off-RegConfig, data)
		t.mu.Unlock()
		return
	}
	if len(data) != 4 || off%4 != 0 {
		return // registers are 32-bit; other accesses read as zero
	}
	t.mu.Lock()
	v := t.readReg(off)
	t.mu.Unlock()
	binary.LittleEndian.PutUint32(data, v)
}

func (t *MMIO) readReg(off uint64) uint32 {
	q := t.selected()
	switch off {
	case RegMagic:
		return mmioMagic
	case RegVersion:
		return uint32(t.version)
	case RegDeviceID:
		return t.dev.DeviceID()
	case RegVendorID:
		return vendorID
	case RegDeviceFeatures:
		return t.deviceFeatures()
	case RegQueueNumMax:
		if q == nil {
			return 0
		}
		return uint32(q.max)
	case RegQueueReady:
		if q == nil {
			return 0
		}
		return b2u(q.isReady(t.version))
	case RegQueuePFN:
		if t.version != Legacy || q == nil {
			return 0
		}
		return q.pfn
	case RegInterruptStatus:
		return t.intStatus | t.kernelUsedLocked()
	case RegStatus:
		return t.status
	case RegConfigGeneration:
		return 0
	}
	return 0
}

// WriteMMIO implements vmm.MMIODevice.
func (t *MMIO) WriteMMIO(off uint64, data []byte) {
	if off >= RegConfig {
		t.mu.Lock()
		t.dev.WriteConfig(off-RegConfig, data)
		t.mu.Unlock()
		return
	}
	if len(data) != 4 || off%4 != 0 {
		return
	}
	v := binary.LittleEndian.Uint32(data)
	switch off {
	case RegQueueNotify:
		t.Kick(int(v))
	case RegStatus:
		t.writeStatus(v)
	default:
		t.mu.Lock()
		t.writeReg(off, v)
		t.mu.Unlock()
	}
}

// writeReg writes a register other than Status and QueueNotify; t.mu is
// held.
func (t *MMIO) writeReg(off uint64, v uint32) {
	switch off {
	case RegDeviceFeaturesSel:
		t.devFeatSel = v
	case RegDriverFeaturesSel:
		t.drvFeatSel = v
	case RegDriverFeatures:
		t.writeDriverFeatures("DriverFeatures", v)
	case RegGuestPageSize:
		// Read only when the device is activated: a later write
		// changes no running queue.
		if t.version == Legacy && v != 0 && v&(v-1) == 0 {
			t.pageSize = v
		}
	case RegQueueSel:
		t.queueSel = v
	case RegInterruptACK:
		t.intStatus &^= v
	default:
		if r, ok := mmioQueueRegs[t.version][off]; ok {
			t.writeQueue(r.field, r.name, v)
		}
	}
}

// mmioQueueReg is a register that configures the selected queue.
type mmioQueueReg struct {
	field queueField
	name  string
}

// mmioQueueRegs are the registers that configure the selected queue, in
// each layout.
var mmioQueueRegs = map[TransportVersion]map[uint64]mmioQueueReg{
	Modern: {
		RegQueueNum: {fieldSize, "QueueNum"}, RegQueueReady: {fieldReady, "QueueReady"},
		RegQueueDescLow: {fieldDescLow, "QueueDescLow"}, RegQueueDescHigh: {fieldDescHigh, "QueueDescHigh"},
		RegQueueDriverLow: {fieldDriverLow, "QueueDriverLow"}, RegQueueDriverHigh: {fieldDriverHigh, "QueueDriverHigh"},
		RegQueueDeviceLow: {fieldDeviceLow, "QueueDeviceLow"}, RegQueueDeviceHigh: {fieldDeviceHigh, "QueueDeviceHigh"},
	},
	Legacy: {
		RegQueueNum: {fieldSize, "QueueNum"}, RegQueueAlign: {fieldAlign, "QueueAlign"}, RegQueuePFN: {fieldPFN, "QueuePFN"},
	},
}
