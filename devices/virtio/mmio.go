package virtio

import (
	"encoding/binary"
	"log"
	"os"
	"sync"

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
	// life serialises what starts and stops the device: status writes
	// (activation, reset) and Close. It is taken before mu; the device's
	// goroutines never take it, so a reset may wait for them holding it.
	life sync.Mutex
	// mu guards the registers; the device's goroutines take it to
	// interrupt or fail.
	mu      sync.Mutex
	name    string
	version TransportVersion
	dev     Device
	mem     *memory.GuestMemory
	pulse   func()
	log     *log.Logger
	onFault func(error)

	offered    uint64
	driverFeat uint64
	devFeatSel uint32
	drvFeatSel uint32
	queueSel   uint32
	status     uint32
	intStatus  uint32
	pageSize   uint32 // legacy
	// queues are the driver's register values; the device runs with
	// Queues built from copies of them (queueconfig.go).
	queues []queueConfig
	// running are the Queues the device runs with, from its activation
	// to its reset: only its goroutines use them, and a saved state
	// reads them while the gate holds those goroutines (state.go).
	running []*Queue
	kicks   []chan struct{}
	// fds are the eventfds of an FDNotified device's queues (-1: none),
	// set once before the guest runs (SetNotifyFD).
	fds  []int
	gate Gate

	active     bool // the device runs: Activate succeeded, no Reset since
	broken     bool // a driver error or a failure: nothing is served until a reset
	closed     bool // Close was called: the device never runs again
	failedOnce bool // a failure was logged
}

// NewMMIO wraps dev in a transport. pulse raises the device's (edge)
// interrupt.
func NewMMIO(name string, version TransportVersion, dev Device, mem *memory.GuestMemory, pulse func(), logger *log.Logger) *MMIO {
	if logger == nil {
		logger = log.New(os.Stderr, "", 0)
	}
	t := &MMIO{name: name, version: version, dev: dev, mem: mem, pulse: pulse, log: logger}
	t.offered = dev.Features()
	if version == Modern {
		t.offered |= 1 << FeatureVersion1
	} else {
		t.offered &= 0xffffffff
	}
	for _, max := range dev.QueueMaxSizes() {
		t.queues = append(t.queues, newQueueConfig(max))
		t.kicks = append(t.kicks, make(chan struct{}, 1))
		t.fds = append(t.fds, -1)
	}
	t.pageSize = 4096
	return t
}

// OnFault sets what a bug in gokvm on one of the device's goroutines (a
// recovered panic) is reported to, besides failing the device: the
// machine's vmm.DeviceEnv.Fault. Set it before the guest runs.
func (t *MMIO) OnFault(f func(error)) {
	t.mu.Lock()
	t.onFault = f
	t.mu.Unlock()
}

// Kick notifies queue i as a QueueNotify write does; KVM's ioeventfd
// forwarders call it for notifications that bypass the MMIO exit.
func (t *MMIO) Kick(i int) {
	if i < 0 || i >= len(t.kicks) {
		return
	}
	select {
	case t.kicks[i] <- struct{}{}:
	default:
	}
}

// NumQueues is how many queues the device has.
func (t *MMIO) NumQueues() int { return len(t.queues) }

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
		if t.devFeatSel > 1 {
			return 0
		}
		return uint32(t.offered >> (32 * t.devFeatSel))
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
		return t.intStatus
	case RegStatus:
		return t.status
	case RegConfigGeneration:
		return 0
	}
	return 0
}

func b2u(b bool) uint32 {
	if b {
		return 1
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

func (t *MMIO) selected() *queueConfig {
	if int(t.queueSel) < len(t.queues) {
		return &t.queues[t.queueSel]
	}
	return nil
}

func setLow(p *uint64, v uint32)  { *p = *p&^0xffffffff | uint64(v) }
func setHigh(p *uint64, v uint32) { *p = *p&0xffffffff | uint64(v)<<32 }

// writeReg writes a register other than Status and QueueNotify; t.mu is
// held.
func (t *MMIO) writeReg(off uint64, v uint32) {
	switch off {
	case RegDeviceFeaturesSel:
		t.devFeatSel = v
	case RegDriverFeaturesSel:
		t.drvFeatSel = v
	case RegDriverFeatures:
		if t.featuresFixed() {
			t.driverError("DriverFeatures written after the features were settled (status %#x)", t.status)
			return
		}
		if t.drvFeatSel <= 1 {
			shift := 32 * t.drvFeatSel
			t.driverFeat = t.driverFeat&^(0xffffffff<<shift) | uint64(v)<<shift
		}
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
		t.writeQueueReg(off, v)
	}
}

// queueRegs are the registers that configure the selected queue, in each
// layout.
var queueRegs = map[TransportVersion]map[uint64]string{
	Modern: {
		RegQueueNum: "QueueNum", RegQueueReady: "QueueReady",
		RegQueueDescLow: "QueueDescLow", RegQueueDescHigh: "QueueDescHigh",
		RegQueueDriverLow: "QueueDriverLow", RegQueueDriverHigh: "QueueDriverHigh",
		RegQueueDeviceLow: "QueueDeviceLow", RegQueueDeviceHigh: "QueueDeviceHigh",
	},
	Legacy: {RegQueueNum: "QueueNum", RegQueueAlign: "QueueAlign", RegQueuePFN: "QueuePFN"},
}

// writeQueueReg writes one of the selected queue's registers, while the
// driver may; t.mu is held.
func (t *MMIO) writeQueueReg(off uint64, v uint32) {
	name, ok := queueRegs[t.version][off]
	q := t.selected()
	if !ok || q == nil {
		return // not a register of this layout, or no such queue
	}
	if t.queueFixed(q) {
		t.driverError("%s %#x written for queue %d while it runs (status %#x)", name, v, t.queueSel, t.status)
		return
	}
	switch off {
	case RegQueueNum:
		// A split queue's size is a power of 2 up to QueueNumMax
		// (virtio 1.2, 2.7 and 4.2.2.2): any other is a driver error
		// now rather than a failed activation later, so that the
		// registers only ever hold a size a device could run with
		// (0: not written, a legacy queue's largest).
		if v != 0 && (v > uint32(q.max) || v&(v-1) != 0) {
			t.driverError("QueueNum %d written for queue %d, not a power of 2 up to %d", v, t.queueSel, q.max)
			return
		}
		q.size = uint16(v)
	case RegQueueAlign:
		if v != 0 && v&(v-1) == 0 {
			q.align = v
		}
	case RegQueuePFN:
		q.pfn = v
	case RegQueueReady:
		q.ready = v == 1
	default:
		if q.ready {
			return // the addresses of a ready queue stay as they are
		}
		switch off {
		case RegQueueDescLow:
			setLow(&q.desc, v)
		case RegQueueDescHigh:
			setHigh(&q.desc, v)
		case RegQueueDriverLow:
			setLow(&q.avail, v)
		case RegQueueDriverHigh:
			setHigh(&q.avail, v)
		case RegQueueDeviceLow:
			setLow(&q.used, v)
		case RegQueueDeviceHigh:
			setHigh(&q.used, v)
		}
	}
}

// featuresFixed: the driver's features are settled at FEATURES_OK
// (modern) or DRIVER_OK (legacy, which has no FEATURES_OK).
func (t *MMIO) featuresFixed() bool {
	return t.status&(StatusFeaturesOK|StatusDriverOK) != 0
}

// queueFixed: a modern queue's registers are the driver's until DRIVER_OK
// (virtio 1.2, 4.2.2); a legacy queue's until the device runs with it.
func (t *MMIO) queueFixed(q *queueConfig) bool {
	if t.version == Legacy {
		return q.running
	}
	return t.status&StatusDriverOK != 0
}

// interrupt raises a used-buffer notification.
func (t *MMIO) interrupt() {
	t.mu.Lock()
	t.intStatus |= InterruptUsedBuffer
	t.mu.Unlock()
	t.pulse()
}

// Pause implements vmm.Pauser: it returns once the device's goroutines
// are between requests, and holds them there (no Pop, no guest memory, no
// interrupt) until Resume. A Reset or Close meanwhile still stops the
// device. A Drainer is drained first, while the gate is still open for
// the answers it waits for.
func (t *MMIO) Pause() {
	if d, ok := t.dev.(Drainer); ok {
		d.Drain()
	}
	t.gate.Pause()
	if p, ok := t.dev.(vmm.Pauser); ok {
		p.Pause()
	}
}

// Resume implements vmm.Pauser: the device carries on where it was.
func (t *MMIO) Resume() {
	if p, ok := t.dev.(vmm.Pauser); ok {
		p.Resume()
	}
	t.gate.Resume()
	if d, ok := t.dev.(Drainer); ok {
		d.Undrain()
	}
}
