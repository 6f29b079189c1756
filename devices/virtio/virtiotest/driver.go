// Package virtiotest is a guest's virtio driver for tests: written against
// simulated guest memory, it sets a transport up through its registers
// only, the way Linux's virtio_mmio driver (or, with NewPCI, its
// virtio_pci driver) does, then makes chains available, kicks, and waits
// for used buffers. The tests of the transports and of every device use
// it; only tests may import it.
package virtiotest

import (
	"encoding/binary"
	"io"
	"log"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/memory"
)

// The simulated guest RAM.
const (
	RAMBase = 0x4000_0000
	RAMSize = 4 << 20
)

// The driver's layout of guest RAM: queue i's rings at RAMBase+i*ringSpan
// (modern: descriptors, then the available ring at +0x4000, the used ring
// at +0x8000), buffers from bufBase up.
const (
	ringSpan  = 0x10000
	ringsSize = 0x40000
	bufBase   = RAMBase + 1<<20
)

// Driver drives one transport. Submit, Kick and Wait work on the selected
// queue (SelectQueue); every method must be called from the test's
// goroutine.
type Driver struct {
	T   testing.TB
	Mem *memory.GuestMemory
	// Dev is the transport, as the machine sees it.
	Dev vmm.MMIODevice
	// IRQs receives a value for each interrupt the transport raises (up
	// to 1024 unread).
	IRQs chan struct{}
	// OnPulse, when set before the device runs, is called for each
	// interrupt as well (a benchmark signals a real irqfd with it).
	OnPulse func()

	// tr is the transport's register-level driver: virtio-mmio's by
	// default, virtio-pci's with NewPCI.
	tr transportDriver

	qsize uint16
	rings []ring
	cur   int
	alloc uint64 // bump allocator for buffers

	log    logBuffer
	faults faultLog
}

// New makes a transport (virtio.NewMMIO) of the given version for dev
// over fresh guest RAM, and a driver for it. The transport is closed when
// the test ends; it does not close dev. The device's faults are recorded
// (Faults).
func New(t testing.TB, version virtio.TransportVersion, dev virtio.Device) *Driver {
	d := newDriver(t)
	d.attach(version, dev)
	return d
}

// attach makes d's transport (New's).
func (d *Driver) attach(version virtio.TransportVersion, dev virtio.Device) {
	tr := virtio.NewMMIO("test", version, dev, d.Mem, d.pulse, log.New(&d.log, "", 0))
	tr.OnFault(d.faults.add)
	d.Dev = tr
	d.T.Cleanup(tr.Close)
}

// NewFromSpec creates the device as the machine does, through spec.New,
// over fresh guest RAM, and a driver for it. watch is the machine's
// WatchWrite; nil means the host has none (vmm.ErrUnsupported). The device
// is closed when the test ends, and its faults (vmm.DeviceEnv.Fault) are
// recorded (Faults).
func NewFromSpec(t testing.TB, spec vmm.DeviceSpec, watch func(offset uint64, value uint32) (vmm.Notification, error)) *Driver {
	d := newDriver(t)
	d.attachSpec(spec, watch)
	return d
}

// attachSpec makes d's device from spec (NewFromSpec's).
func (d *Driver) attachSpec(spec vmm.DeviceSpec, watch func(offset uint64, value uint32) (vmm.Notification, error)) {
	t := d.T
	if watch == nil {
		watch = func(uint64, uint32) (vmm.Notification, error) { return nil, vmm.ErrUnsupported }
	}
	dev, err := spec.New(vmm.DeviceEnv{
		Name:       spec.Name,
		Mem:        d.Mem,
		Placement:  vmm.Placement{Base: 0x0a00_0000, Size: spec.Size, IRQ: 16},
		Log:        log.New(&d.log, "", 0),
		SetLevel:   func(bool) {},
		Pulse:      d.pulse,
		WatchWrite: watch,
		Fault:      d.faults.add,
	})
	if err != nil {
		t.Fatalf("creating %s: %v", spec.Name, err)
	}
	d.Dev = dev
	t.Cleanup(func() { d.Close() })
}

func newDriver(t testing.TB) *Driver {
	d := &Driver{
		T:     t,
		Mem:   memory.NewGuestMemoryFromSlice(RAMBase, make([]byte, RAMSize)),
		IRQs:  make(chan struct{}, 1024),
		alloc: bufBase,
		rings: make([]ring, 1),
		log:   logBuffer{t: t},
	}
	d.tr = mmioDriver{d}
	return d
}

// pulse is the transport's interrupt.
func (d *Driver) pulse() {
	if d.OnPulse != nil {
		d.OnPulse()
	}
	select {
	case d.IRQs <- struct{}{}:
	default:
	}
}

// Pause and Resume pause the transport as the machine does (vmm.Pauser).
func (d *Driver) Pause()  { d.pauser().Pause() }
func (d *Driver) Resume() { d.pauser().Resume() }

func (d *Driver) pauser() vmm.Pauser {
	p, ok := d.Dev.(vmm.Pauser)
	if !ok {
		d.T.Fatalf("%T is not a vmm.Pauser", d.Dev)
	}
	return p
}

// Close closes the transport as the machine does: a device made by
// NewFromSpec closes its backend too. Closing again does nothing more.
func (d *Driver) Close() error {
	switch c := d.Dev.(type) {
	case io.Closer:
		return c.Close()
	case interface{ Close() }:
		c.Close()
	}
	return nil
}

// Read32 reads a 32-bit register.
func (d *Driver) Read32(off uint64) uint32 {
	b := make([]byte, 4)
	d.Dev.ReadMMIO(off, b)
	return binary.LittleEndian.Uint32(b)
}

// Write32 writes a 32-bit register.
func (d *Driver) Write32(off uint64, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	d.Dev.WriteMMIO(off, b)
}

// Setup resets the device, negotiates features (all offered but those in
// drop) and readies every queue (those with a QueueNumMax) with qsize
// entries and fresh rings, the way Linux's virtio_mmio driver does; queue
// 0 is selected. Setting up again after a reset forgets the driver's queue
// state.
func (d *Driver) Setup(qsize uint16, drop uint64) {
	d.setup(qsize, func(offered uint64) uint64 { return offered &^ drop }, true)
}

// SetupFeatures sets the device up as Setup does, but as a driver that
// asks for features whether they were offered or not, and carries on to
// DRIVER_OK whatever the device answers (a refused FEATURES_OK, a device
// that needs a reset): the test checks what came of it.
func (d *Driver) SetupFeatures(qsize uint16, features uint64) {
	d.setup(qsize, func(uint64) uint64 { return features }, false)
}

// setup is Setup with the driver's features chosen from those offered;
// strict fails the test when the device refuses them.
func (d *Driver) setup(qsize uint16, choose func(offered uint64) uint64, strict bool) {
	tr := d.tr
	tr.setStatus(0)
	tr.setStatus(virtio.StatusAcknowledge)
	tr.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	want := choose(tr.offered())
	d.WriteFeatures(want)
	legacy := tr.legacy()
	if !legacy {
		tr.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
		if strict && tr.status()&virtio.StatusFeaturesOK == 0 {
			d.T.Fatalf("device refused features %#x", want)
		}
	}
	d.qsize = qsize
	// Fresh rings, as a driver allocates them zeroed.
	if err := d.Mem.Write(RAMBase, make([]byte, ringsSize)); err != nil {
		d.T.Fatal(err)
	}
	d.rings = d.rings[:0]
	for i := 0; ; i++ {
		max := tr.queueMax(i)
		if max == 0 {
			break // no such queue
		}
		if i >= ringsSize/ringSpan {
			d.T.Fatalf("more than %d queues", ringsSize/ringSpan)
		}
		if max < uint32(qsize) {
			d.T.Fatalf("the queue's largest size %d < %d", max, qsize)
		}
		d.rings = append(d.rings, ring{})
		r := &d.rings[i]
		base := RAMBase + uint64(i)*ringSpan
		if legacy {
			r.desc = base
			r.avail = r.desc + 16*uint64(qsize)
			r.used = (r.avail + 6 + 2*uint64(qsize) + 4095) &^ 4095
		} else {
			r.desc, r.avail, r.used = base, base+0x4000, base+0x8000
		}
		tr.setupQueue(i, qsize, r)
	}
	if len(d.rings) == 0 {
		d.T.Fatalf("the device has no queue")
	}
	d.cur = 0
	if legacy {
		tr.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusDriverOK)
		return
	}
	tr.setStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK | virtio.StatusDriverOK)
	if s := tr.status(); strict && s&virtio.StatusDeviceNeedsReset != 0 {
		d.T.Fatalf("device needs reset right after setup (status %#x)", s)
	}
}

// WriteFeatures writes the driver's features, both 32-bit words, whether
// the device offered them or not.
func (d *Driver) WriteFeatures(f uint64) { d.tr.writeFeatures(f) }

// Status is the device status register.
func (d *Driver) Status() uint32 { return d.tr.status() }

// WaitStatus waits (up to 5 seconds, then fails the test) until the
// device status has bit set.
func (d *Driver) WaitStatus(bit uint32) {
	deadline := time.Now().Add(5 * time.Second)
	for d.Status()&bit == 0 {
		if time.Now().After(deadline) {
			d.T.Fatalf("status %#x never got %#x", d.Status(), bit)
		}
		time.Sleep(time.Millisecond)
	}
}
