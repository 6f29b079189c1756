package virtio

import "github.com/gokvm/gokvm/vmm/memory"

// Device is a virtio device as the transport drives it. It knows nothing
// of MMIO: it offers features, queues and a config space, and runs once the
// driver is ready. A device that owns a backend (a disk, a tap) is an
// io.Closer that closes it; Spec's device closes it with the machine.
type Device interface {
	// DeviceID is the virtio device type (2 for block, 1 for net).
	DeviceID() uint32
	// Features is what the device offers, ring features included; the
	// transport adds its own (VERSION_1).
	Features() uint64
	// QueueMaxSizes lists the device's queues and their largest sizes.
	QueueMaxSizes() []uint16
	// ReadConfig and WriteConfig access the device-specific config space.
	ReadConfig(offset uint64, data []byte)
	WriteConfig(offset uint64, data []byte)
	// Activate starts the device when the driver sets DRIVER_OK. Each
	// goroutine it starts defers env.Recover.
	Activate(env ActivateEnv) error
	// Reset stops whatever Activate started and waits until it stopped.
	// It returns promptly (a device checks for a stop between requests
	// and within long ones), and is safe to call any number of times, from
	// any number of goroutines at once, and alongside a Close.
	Reset()
}

// ActivateEnv is what a device runs with.
type ActivateEnv struct {
	Mem    *memory.GuestMemory
	Queues []*Queue
	// Features are the negotiated features: the driver's, never a bit
	// beyond Offered.
	Features uint64
	// Offered is what the transport offered the driver: the device's
	// Features and the transport's own (VERSION_1 on a modern one).
	Offered uint64
	// Kicks has one Kick per queue: the goroutine serving the queue
	// waits on it for the driver's notifications (Kick.Wait).
	Kicks []*Kick
	// NotifyFDs, for an FDNotified device, has one entry per queue: the
	// eventfd KVM signals when the driver notifies the queue, or -1 where
	// there is none (a queue the device did not list, or a host without
	// ioeventfds): those notifications come on Kicks. The descriptors
	// are the transport's; the device must not close them. Nil for other
	// devices.
	NotifyFDs []int
	// Interrupt tells the driver about used buffers in queue i (an
	// index of Queues): a transport may have an interrupt per queue
	// (virtio-pci's MSI-X vectors).
	Interrupt func(i int)
	// InterruptFD, where the transport has it, makes each write to
	// eventfd fd raise queue i's used-buffer interrupt in the host
	// kernel, with no goroutine of gokvm's in between: for a host kernel
	// driver that signals fd itself (vhost's call eventfd). The
	// transport then reports used buffers in every interrupt while the
	// device runs (virtio-mmio's USED_BUFFER), since it cannot tell
	// which are the kernel's. Call it from Activate only; release
	// undoes it, and must be called before the device's Reset returns
	// and before fd is closed. Such interrupts are not held by Gate: a
	// device that uses it stops the kernel signalling in its Pause. Nil
	// where the transport cannot (virtio-pci, a host without irqfds).
	InterruptFD func(i, fd int) (release func() error, err error)
	// Fail marks the device broken (DEVICE_NEEDS_RESET) after the driver
	// broke a queue; the device stops using its queues, and the transport
	// shuts Gate so that its other goroutines stop too.
	Fail func(error)
	// Fault reports a bug in gokvm on one of the device's goroutines (a
	// recovered panic, see Recover): the device fails as with Fail, and
	// the machine ends with a failure status once the guest stops
	// (vmm.DeviceEnv.Fault).
	Fault func(error)
	// Gate holds the device's goroutines between requests while the
	// machine is paused: they touch guest memory and interrupt only
	// between Gate.Enter and Gate.Leave. ServeQueue uses it; a device
	// with a loop of its own must too. A nil Gate never pauses.
	Gate *Gate
	// Restored says the transport activates the device again from a
	// saved state (vmm.StateDevice's RestoreState), not for a driver's
	// DRIVER_OK: its queues are where the saved device was in their
	// rings, and what the device's own state held for the running device
	// (RestoreDeviceState) is its to go on with. A device activated by a
	// driver after a restore (a reset, or a state that needed one) is
	// not Restored: the driver set it up anew.
	Restored bool
}

// Has reports whether feature bit f was negotiated.
func (e *ActivateEnv) Has(f uint) bool { return e.Features&(1<<f) != 0 }

// Drainer is a Device that completes the chains it takes outside the
// gate (a backend answers them later, on goroutines of its own), so that
// holding its goroutines between requests is not enough for a saved state
// to have no chain taken and not returned. The transport's Pause drains
// it before it closes the gate: Drain stops the device taking chains and
// waits, for a bounded time, until every chain it took has been
// returned (the gate is still open for that). A request that does not
// end in that time stays in progress: the machine pauses all the same,
// and the device refuses to be saved (SaveDeviceState) until a later
// pause finds it drained. Undrain, after the gate opens again on Resume,
// lets it take chains again.
type Drainer interface {
	Device
	Drain()
	Undrain()
}

// StateDevice is a Device whose state can be saved with its transport's
// (vmm.StateDevice): a transport whose device is not one cannot be saved.
// SaveDeviceState runs while the transport is paused (vmm.Pauser), so the
// device's goroutines are held between requests; RestoreDeviceState runs
// on a device made the same way that was never activated, before the
// transport activates it again. Neither sees the queues or features:
// those are the transport's. The state's format is the device's own; a
// state the device cannot take is refused with an error, never a panic.
type StateDevice interface {
	Device
	SaveDeviceState() ([]byte, error)
	RestoreDeviceState(state []byte) error
}
