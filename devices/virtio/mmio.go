package virtio

import (
	"encoding/binary"
	"fmt"
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
// vmm.MMIODevice, seeing only offsets in its window, and vmm.Pauser.
type MMIO struct {
	mu      sync.Mutex
	name    string
	version TransportVersion
	dev     Device
	mem     *memory.GuestMemory
	pulse   func()
	log     *log.Logger

	offered     uint64
	driverFeat  uint64
	devFeatSel  uint32
	drvFeatSel  uint32
	queueSel    uint32
	status      uint32
	intStatus   uint32
	pageSize    uint32 // legacy
	queues      []*Queue
	legacyAlign []uint32
	legacyPFN   []uint32
	kicks       []chan struct{}
	gate        Gate
	active      bool
	failedOnce  bool
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
		t.queues = append(t.queues, &Queue{MaxSize: max})
		t.kicks = append(t.kicks, make(chan struct{}, 1))
		t.legacyAlign = append(t.legacyAlign, 4096)
		t.legacyPFN = append(t.legacyPFN, 0)
	}
	t.pageSize = 4096
	return t
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
		return uint32(q.MaxSize)
	case RegQueueReady:
		if q == nil {
			return 0
		}
		return b2u(q.Ready)
	case RegQueuePFN:
		if t.version != Legacy || q == nil {
			return 0
		}
		return t.legacyPFN[t.queueSel]
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
	if off == RegQueueNotify {
		t.Kick(int(v))
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writeReg(off, v)
}

func (t *MMIO) selected() *Queue {
	if int(t.queueSel) < len(t.queues) {
		return t.queues[t.queueSel]
	}
	return nil
}

// setupAllowed: queue and feature registers change only before DRIVER_OK.
func (t *MMIO) setupAllowed() bool { return t.status&StatusDriverOK == 0 }

func setLow(p *uint64, v uint32)  { *p = *p&^0xffffffff | uint64(v) }
func setHigh(p *uint64, v uint32) { *p = *p&0xffffffff | uint64(v)<<32 }

func (t *MMIO) writeReg(off uint64, v uint32) {
	q := t.selected()
	switch off {
	case RegDeviceFeaturesSel:
		t.devFeatSel = v
	case RegDriverFeaturesSel:
		t.drvFeatSel = v
	case RegDriverFeatures:
		if t.setupAllowed() && t.status&StatusFeaturesOK == 0 && t.drvFeatSel <= 1 {
			shift := 32 * t.drvFeatSel
			t.driverFeat = t.driverFeat&^(0xffffffff<<shift) | uint64(v)<<shift
		}
	case RegGuestPageSize:
		if t.version == Legacy && v != 0 && v&(v-1) == 0 {
			t.pageSize = v
		}
	case RegQueueSel:
		t.queueSel = v
	case RegQueueNum:
		if q != nil && t.setupAllowed() {
			q.Size = uint16(min(v, 0xffff))
		}
	case RegQueueAlign:
		if t.version == Legacy && q != nil && v != 0 && v&(v-1) == 0 {
			t.legacyAlign[t.queueSel] = v
		}
	case RegQueuePFN:
		if t.version == Legacy && q != nil {
			t.setLegacyPFN(q, v)
		}
	case RegQueueReady:
		if t.version == Modern && q != nil && t.setupAllowed() {
			q.Ready = v == 1
		}
	case RegQueueDescLow, RegQueueDescHigh, RegQueueDriverLow, RegQueueDriverHigh, RegQueueDeviceLow, RegQueueDeviceHigh:
		if t.version != Modern || q == nil || !t.setupAllowed() || q.Ready {
			return
		}
		switch off {
		case RegQueueDescLow:
			setLow(&q.Desc, v)
		case RegQueueDescHigh:
			setHigh(&q.Desc, v)
		case RegQueueDriverLow:
			setLow(&q.Avail, v)
		case RegQueueDriverHigh:
			setHigh(&q.Avail, v)
		case RegQueueDeviceLow:
			setLow(&q.Used, v)
		case RegQueueDeviceHigh:
			setHigh(&q.Used, v)
		}
	case RegInterruptACK:
		t.intStatus &^= v
	case RegStatus:
		t.setStatus(v)
	}
}

// setLegacyPFN lays out a legacy queue from its page frame number: the
// descriptor table, the available ring right after it, the used ring at the
// next QueueAlign boundary.
func (t *MMIO) setLegacyPFN(q *Queue, pfn uint32) {
	t.legacyPFN[t.queueSel] = pfn
	if pfn == 0 {
		q.Ready = false
		return
	}
	if q.Size == 0 {
		q.Size = q.MaxSize
	}
	align := uint64(t.legacyAlign[t.queueSel])
	n := uint64(q.Size)
	q.Desc = uint64(pfn) * uint64(t.pageSize)
	q.Avail = q.Desc + 16*n
	q.Used = (q.Avail + 6 + 2*n + align - 1) &^ (align - 1)
	q.Ready = true
}

func (t *MMIO) setStatus(v uint32) {
	if v == 0 {
		t.reset()
		return
	}
	old := t.status
	if v&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		// The driver may only take what was offered; a legacy driver
		// never sets FEATURES_OK.
		if t.driverFeat&^t.offered != 0 || (t.version == Modern && t.driverFeat&(1<<FeatureVersion1) == 0) {
			v &^= StatusFeaturesOK
		}
	}
	t.status = v | old&StatusDeviceNeedsReset
	if v&StatusDriverOK != 0 && old&StatusDriverOK == 0 && !t.active {
		if err := t.activate(); err != nil {
			t.failLocked(fmt.Errorf("activating: %w", err))
		}
	}
}

func (t *MMIO) activate() error {
	if t.version == Modern && t.status&StatusFeaturesOK == 0 {
		return fmt.Errorf("DRIVER_OK without FEATURES_OK")
	}
	eventIdx := t.driverFeat&(1<<FeatureEventIdx) != 0
	indirect := t.driverFeat&(1<<FeatureIndirectDesc) != 0
	var kicks []<-chan struct{}
	for i, q := range t.queues {
		if q.Ready {
			if err := q.Activate(t.mem, eventIdx, indirect); err != nil {
				return fmt.Errorf("queue %d: %w", i, err)
			}
		}
		kicks = append(kicks, t.kicks[i])
	}
	err := t.dev.Activate(ActivateEnv{
		Mem:       t.mem,
		Features:  t.driverFeat,
		Queues:    t.queues,
		Kicks:     kicks,
		Interrupt: t.interrupt,
		Fail:      t.fail,
		Gate:      &t.gate,
	})
	if err != nil {
		return err
	}
	t.active = true
	return nil
}

// interrupt raises a used-buffer notification.
func (t *MMIO) interrupt() {
	t.mu.Lock()
	t.intStatus |= InterruptUsedBuffer
	t.mu.Unlock()
	t.pulse()
}

// fail sets DEVICE_NEEDS_RESET and tells the driver through a config
// change interrupt; it logs the first failure only.
func (t *MMIO) fail(err error) {
	t.mu.Lock()
	t.failLocked(err)
	t.mu.Unlock()
	t.pulse()
}

func (t *MMIO) failLocked(err error) {
	if !t.failedOnce {
		t.failedOnce = true
		t.log.Printf("%s: %v; the device needs a reset", t.name, err)
	}
	t.status |= StatusDeviceNeedsReset
	t.intStatus |= InterruptConfigChange
}

// stopDevice stops an active device; t.mu is held on entry and exit.
func (t *MMIO) stopDevice() {
	if !t.active {
		return
	}
	// The device's goroutines may be calling interrupt or fail, which
	// take the lock: let them finish without it.
	t.mu.Unlock()
	t.dev.Reset()
	t.mu.Lock()
	t.active = false
}

func (t *MMIO) reset() {
	t.stopDevice()
	for i, q := range t.queues {
		q.Reset()
		t.legacyPFN[i] = 0
		t.legacyAlign[i] = 4096
		select {
		case <-t.kicks[i]:
		default:
		}
	}
	t.status, t.intStatus, t.driverFeat = 0, 0, 0
	t.devFeatSel, t.drvFeatSel, t.queueSel = 0, 0, 0
	t.pageSize = 4096
}

// Pause implements vmm.Pauser: it returns once the device's goroutines
// are between requests, and holds them there (no Pop, no guest memory, no
// interrupt) until Resume. A Reset or Close meanwhile still stops the
// device.
func (t *MMIO) Pause() { t.gate.Pause() }

// Resume implements vmm.Pauser: the device carries on where it was.
func (t *MMIO) Resume() { t.gate.Resume() }

// Close stops the device.
func (t *MMIO) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopDevice()
}
