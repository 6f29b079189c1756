package virtio

import (
	"log"
	"os"
	"sync"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/memory"
)

// transport is what every virtio transport shares, whatever its register
// layout (virtio-mmio's window, virtio-pci's capabilities): the device
// behind it, feature negotiation, the device status and its rules
// (status.go), each queue's configuration and the Queues the device runs
// with (queueconfig.go), kicks, the gate that pauses the device, and the
// saved state (state.go). A layout embeds it, decodes the guest's
// accesses into its fields and methods, and says how an interrupt
// reaches the driver (layout).
type transport struct {
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
	log     *log.Logger
	onFault func(error)
	layout  layout

	offered    uint64
	driverFeat uint64
	devFeatSel uint32
	drvFeatSel uint32
	queueSel   uint32
	status     uint32
	// pulseFD is the machine's vmm.DeviceEnv.PulseFD, for a layout whose
	// interrupts a kernel driver may raise (setPulseFD); kernelQueues
	// counts the running queues it raises them for (kernelinterrupts.go).
	pulseFD      func(fd int) (func() error, error)
	kernelQueues int
	// intStatus is what the driver reads of the interrupts raised
	// (virtio-mmio's InterruptStatus, virtio-pci's ISR status).
	intStatus uint32
	pageSize  uint32 // legacy
	// queues are the driver's register values; the device runs with
	// Queues built from copies of them (queueconfig.go).
	queues []queueConfig
	// running are the Queues the device runs with, from its activation
	// to its reset: only its goroutines use them, and a saved state
	// reads them while the gate holds those goroutines (state.go).
	running []*Queue
	kicks   []*Kick
	// fds are the eventfds of an FDNotified device's queues (-1: none),
	// set once before the guest runs (SetNotifyFD).
	fds  []int
	gate Gate

	active     bool // the device runs: Activate succeeded, no Reset since
	broken     bool // a driver error or a failure: nothing is served until a reset
	closed     bool // Close was called: the device never runs again
	failedOnce bool // a failure was logged
}

// layout is what the transport asks of the register layout around it.
// Both methods run with the transport's mu held.
type layout interface {
	// interruptLocked tells the driver of used buffers in queue (cause
	// InterruptUsedBuffer) or of a configuration change (cause
	// InterruptConfigChange, queue -1), and sets in intStatus what the
	// driver reads of it. It returns the edge for the caller to raise
	// once mu is released, so that the guest's handler, reading
	// InterruptStatus as the edge arrives, does not wait on mu (a caller
	// on a rare path, breakLocked, raises it under mu); nil when the
	// layout raised what it had to itself.
	interruptLocked(cause uint32, queue int) (edge func())
	// resetLocked returns the layout's own registers to their initial
	// values: the driver reset the device (or it was just made).
	resetLocked()
}

// init readies t for dev, interrupting through l; version says which of
// virtio's status and queue rules apply (a legacy driver has no
// FEATURES_OK and lays its queues out from a page number).
func (t *transport) init(name string, version TransportVersion, dev Device, mem *memory.GuestMemory, logger *log.Logger, l layout) {
	if logger == nil {
		logger = log.New(os.Stderr, "", 0)
	}
	t.name, t.version, t.dev, t.mem, t.log, t.layout = name, version, dev, mem, logger, l
	t.offered = dev.Features()
	if version == Modern {
		t.offered |= 1 << FeatureVersion1
	} else {
		t.offered &= 0xffffffff
	}
	for _, max := range dev.QueueMaxSizes() {
		t.queues = append(t.queues, newQueueConfig(max))
		t.kicks = append(t.kicks, newKick())
		t.fds = append(t.fds, -1)
	}
	t.pageSize = 4096
	t.mu.Lock()
	l.resetLocked()
	t.mu.Unlock()
}

// OnFault sets what a bug in gokvm on one of the device's goroutines (a
// recovered panic) is reported to, besides failing the device: the
// machine's vmm.DeviceEnv.Fault. Set it before the guest runs.
func (t *transport) OnFault(f func(error)) {
	t.mu.Lock()
	t.onFault = f
	t.mu.Unlock()
}

// Kick notifies queue i as the driver's notification register does, for
// a notification that arrived as an MMIO write (those KVM's ioeventfds
// match never come here: the device's goroutines wait on those). Any i
// may come from the guest: one that is no queue is ignored.
func (t *transport) Kick(i int) {
	if i < 0 || i >= len(t.kicks) {
		return
	}
	t.kicks[i].notify()
}

// NumQueues is how many queues the device has.
func (t *transport) NumQueues() int { return len(t.queues) }

// interrupt raises a used-buffer notification for queue (the device's
// ActivateEnv.Interrupt).
func (t *transport) interrupt(queue int) {
	t.mu.Lock()
	edge := t.layout.interruptLocked(InterruptUsedBuffer, queue)
	t.mu.Unlock()
	if edge != nil {
		edge()
	}
}

// deviceFeatures is the 32 bits of the offered features that the device
// feature select register chooses (none beyond the second word); t.mu is
// held.
func (t *transport) deviceFeatures() uint32 {
	if t.devFeatSel > 1 {
		return 0
	}
	return uint32(t.offered >> (32 * t.devFeatSel))
}

// writeDriverFeatures sets the 32 bits of the driver's features that the
// driver feature select register chooses, while the driver may; name is
// the register's in the layout, for the log. t.mu is held.
func (t *transport) writeDriverFeatures(name string, v uint32) {
	if t.featuresFixed() {
		t.driverError("%s written after the features were settled (status %#x)", name, t.status)
		return
	}
	if t.drvFeatSel <= 1 {
		shift := 32 * t.drvFeatSel
		t.driverFeat = t.driverFeat&^(0xffffffff<<shift) | uint64(v)<<shift
	}
}

// selected is the queue the queue select register chooses, nil when it
// is no queue; t.mu is held.
func (t *transport) selected() *queueConfig {
	if int(t.queueSel) < len(t.queues) {
		return &t.queues[t.queueSel]
	}
	return nil
}

// Pause implements vmm.Pauser: it returns once the device's goroutines
// are between requests, and holds them there (no Pop, no guest memory, no
// interrupt) until Resume. A Reset or Close meanwhile still stops the
// device. A Drainer is drained first, while the gate is still open for
// the answers it waits for.
func (t *transport) Pause() {
	if d, ok := t.dev.(Drainer); ok {
		d.Drain()
	}
	t.gate.Pause()
	if p, ok := t.dev.(vmm.Pauser); ok {
		p.Pause()
	}
}

// Resume implements vmm.Pauser: the device carries on where it was.
func (t *transport) Resume() {
	if p, ok := t.dev.(vmm.Pauser); ok {
		p.Resume()
	}
	t.gate.Resume()
	if d, ok := t.dev.(Drainer); ok {
		d.Undrain()
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
