package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gokvm/gokvm/devices/pci"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// The simulated PCI machine: the function's placement, where the driver
// puts its BARs, and the doorbell its MSI-X messages are written to.
const (
	PCIConfigBase = 0x4000_0000
	PCIMemBase    = 0x5000_0000
	PCIMemSize    = 0x3000_0000
	// MSIDoorbell is the address the driver programs in every MSI-X
	// entry; a message to anywhere else is not routed.
	MSIDoorbell = 0x0800_0040
)

// PCIMachine is what a virtio-pci function is made with in a test: the
// MMIO bus its BARs are mapped on, its INTx line, its MSIs.
type PCIMachine struct {
	Bus vmm.MMIOBus
	// INTx is the function's interrupt line as last set.
	INTx atomic.Bool
	// Routes counts the MSI routes made (vmm.MSI.Route), Unroutable
	// the messages refused.
	Routes, Unroutable atomic.Int64

	// OnMSI, when set before the driver runs, is called with each MSI
	// sent, as it is sent (a test looks at the function then).
	OnMSI func(data uint32)

	// hostile is set when the test drives configuration space behind
	// the driver's back (GuestMovesBARs).
	hostile atomic.Bool

	mu      sync.Mutex
	signals map[uint32]int // MSI signals by message data
	watches map[watchKey]vmm.EventFDNotification
	msix    bool
}

// watchKey is a watched write: where, of what value.
type watchKey struct {
	gpa   uint64
	value uint64
}

// GuestMovesBARs tells the simulated driver that the test, playing a
// hostile guest, may move or unmap the function's BARs (or turn memory
// decoding off) behind its back: its INTx handler's ISR read may then
// reach nothing, as a real guest's would, and that is not a failure.
// Without it such a read fails the test, since a polite driver's
// accesses always reach the BAR it placed.
func (m *PCIMachine) GuestMovesBARs() { m.hostile.Store(true) }

// Signals is how many times the MSI with message data was sent.
func (m *PCIMachine) Signals(data uint32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.signals[data]
}

// Watched reports whether a write of value at gpa signals a notification
// without reaching the device (as a KVM ioeventfd there would).
func (m *PCIMachine) Watched(gpa, value uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.watches[watchKey{gpa, value}]
	return ok
}

// NewPCI makes a virtio-pci transport (virtio.NewPCI) for dev over fresh
// guest RAM, as a function at PCIConfigBase, and a driver for it that
// finds the virtio structures through the function's capabilities and
// places its BARs in PCIMemBase's window, as Linux's virtio_pci driver
// does. With msix the machine has an MSI controller: the driver enables
// MSI-X, with vector 0 for configuration changes and vector i+1 for
// queue i (their message data); otherwise interrupts come on INTx, whose
// handler reads the ISR status. Each interrupt goes to IRQs. A kick is
// the doorbell write, or the eventfd's signal where the function watches
// the doorbell (as KVM's ioeventfd would).
func NewPCI(t testing.TB, dev virtio.Device, msix bool) (*Driver, *PCIMachine) {
	d := newDriver(t)
	m := &PCIMachine{signals: map[uint32]int{}, watches: map[watchKey]vmm.EventFDNotification{}, msix: msix}
	p := &pciDriver{d: d, m: m, intx: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	tr, err := virtio.NewPCI("test", dev, m.env(d, p))
	if err != nil {
		t.Fatalf("virtio.NewPCI: %v", err)
	}
	d.Dev, d.tr = tr, p
	go p.intxHandler()
	t.Cleanup(func() {
		// The handler may be reading the ISR status of an interrupt
		// the test's last access raised: it ends before the BARs go.
		close(p.stop)
		<-p.stopped
		tr.Close()
	})
	p.probe()
	return d, m
}

// env is the function's vmm.DeviceEnv.
func (m *PCIMachine) env(d *Driver, p *pciDriver) vmm.DeviceEnv {
	return vmm.DeviceEnv{
		Name: "test", Mem: d.Mem, Log: log.New(&d.log, "", 0),
		Placement: vmm.Placement{Base: PCIConfigBase, Size: 0x8000, IRQ: 5, DynamicBase: PCIMemBase, DynamicSize: PCIMemSize},
		SetLevel: func(high bool) {
			if high && !m.INTx.Swap(true) {
				select {
				case p.intx <- struct{}{}:
				default:
				}
			}
			m.INTx.Store(high)
		},
		Pulse:      d.pulse,
		WatchWrite: func(uint64, uint32) (vmm.Notification, error) { return nil, vmm.ErrUnsupported },
		NewNotification: func() (vmm.EventFDNotification, error) {
			return kvm.NewEventFD()
		},
		MapWindow: func(base, size uint64, dev vmm.MMIODevice) (vmm.Window, error) {
			if base < PCIMemBase || base+size > PCIMemBase+PCIMemSize || base+size < base {
				return nil, fmt.Errorf("%w: %#x+%#x outside the window", vmm.ErrWindowRefused, base, size)
			}
			id, err := m.Bus.Map("test BAR", base, size, dev)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", vmm.ErrWindowRefused, err)
			}
			return &testWindow{m: m, id: id, base: base}, nil
		},
		NewMSI: func() (vmm.MSI, error) {
			if !m.msix {
				return nil, vmm.ErrUnsupported
			}
			return &testMSI{m: m, d: d}, nil
		},
		Fault: d.faults.add,
	}
}

// testWindow is a BAR mapped on the test's bus; the writes it watches
// are signalled by the driver's kicks.
type testWindow struct {
	m    *PCIMachine
	id   uint64
	base uint64
	keys []watchKey
}

func (w *testWindow) WatchWrite(n vmm.EventFDNotification, off uint64, length uint32, value uint64) error {
	k := watchKey{w.base + off, value}
	w.m.mu.Lock()
	w.m.watches[k] = n
	w.m.mu.Unlock()
	w.keys = append(w.keys, k)
	return nil
}

func (w *testWindow) Close() error {
	w.m.mu.Lock()
	for _, k := range w.keys {
		delete(w.m.watches, k)
	}
	w.m.mu.Unlock()
	w.m.Bus.Unmap(w.id)
	return nil
}

// testMSI is an MSI whose message goes to the test's doorbell only.
type testMSI struct {
	m      *PCIMachine
	d      *Driver
	mu     sync.Mutex
	routed bool
	data   uint32
}

func (v *testMSI) Route(addr uint64, data uint32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.routed = addr == MSIDoorbell
	v.data = data
	if !v.routed {
		v.m.Unroutable.Add(1)
		return fmt.Errorf("an MSI to %#x, not the doorbell", addr)
	}
	v.m.Routes.Add(1)
	return nil
}

func (v *testMSI) Signal() error {
	v.mu.Lock()
	routed, data := v.routed, v.data
	v.mu.Unlock()
	if !routed {
		return errors.New("an MSI signalled without a route")
	}
	if v.m.OnMSI != nil {
		v.m.OnMSI(data)
	}
	v.m.mu.Lock()
	v.m.signals[data]++
	v.m.mu.Unlock()
	v.d.pulse()
	return nil
}

// pciDriver drives virtio-pci: configuration space through the
// function's ECAM window, the virtio structures at the addresses it put
// BAR 0 at.
type pciDriver struct {
	d *Driver
	m *PCIMachine
	// Where the virtio structures are.
	common, isr, device, notify uint64
	numQueues                   int
	msix                        bool // the driver enabled MSI-X
	intx                        chan struct{}
	stop                        chan struct{}
	stopped                     chan struct{} // closed when intxHandler returns
}

// The driver's BAR placement: each BAR at the next multiple of its size.
func (p *pciDriver) probe() {
	d := p.d
	if v := p.cfg(pci.RegVendorID, 2); v != pci.VendorRedHat {
		d.T.Fatalf("vendor ID %#x", v)
	}
	next := uint64(PCIMemBase)
	bars := map[int]uint64{}
	for i := 0; i < pci.NumBARs; i++ {
		reg := uint64(pci.RegBAR0 + 4*i)
		p.setCfg(reg, 4, 0xffffffff)
		v := p.cfg(reg, 4)
		if v == 0 {
			continue
		}
		size := uint64(^(uint32(v) &^ 0xf)) + 1
		next = (next + size - 1) &^ (size - 1)
		p.setCfg(reg, 4, next)
		bars[i] = next
		next += size
	}
	p.setCfg(pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster)
	var msixCap uint64
	for off := p.cfg(pci.RegCapabilities, 1); off != 0; off = p.cfg(off+1, 1) {
		switch p.cfg(off, 1) {
		case 0x11:
			msixCap = off
		case 0x09:
			at := bars[int(p.cfg(off+4, 1))] + p.cfg(off+8, 4)
			switch p.cfg(off+3, 1) {
			case 1:
				p.common = at
			case 2:
				p.notify = at
			case 3:
				p.isr = at
			case 4:
				p.device = at
			}
		}
	}
	if p.common == 0 || p.notify == 0 || p.isr == 0 || p.device == 0 {
		d.T.Fatalf("a virtio structure is missing: common %#x notify %#x isr %#x device %#x", p.common, p.notify, p.isr, p.device)
	}
	p.numQueues = int(p.read(p.common+0x12, 2))
	if msixCap != 0 {
		ctrl := p.cfg(msixCap+2, 2)
		n := int(ctrl&0x7ff) + 1
		tbl := p.cfg(msixCap+4, 4)
		table := bars[int(tbl&7)] + tbl&^7
		for v := 0; v < n; v++ {
			e := table + uint64(16*v)
			p.write(e, 4, MSIDoorbell)
			p.write(e+4, 4, 0)
			p.write(e+8, 4, uint64(v))
			p.write(e+12, 4, 0) // unmasked
		}
		p.setCfg(msixCap+2, 2, ctrl|1<<15)
		p.msix = true
	}
}

// cfg reads n bytes of configuration space at off.
func (p *pciDriver) cfg(off uint64, n int) uint64 {
	b := make([]byte, 8)
	p.d.Dev.ReadMMIO(off, b[:n])
	return binary.LittleEndian.Uint64(b)
}

func (p *pciDriver) setCfg(off uint64, n int, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	p.d.Dev.WriteMMIO(off, b[:n])
}

// read reads n bytes at guest-physical addr, through the bus.
func (p *pciDriver) read(addr uint64, n int) uint64 {
	b := make([]byte, 8)
	if !p.m.Bus.Dispatch(addr, b[:n], false) {
		p.d.T.Errorf("a %d-byte read at %#x reached no BAR", n, addr)
	}
	return binary.LittleEndian.Uint64(b)
}

func (p *pciDriver) write(addr uint64, n int, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	if !p.m.Bus.Dispatch(addr, b[:n], true) {
		p.d.T.Errorf("a %d-byte write at %#x reached no BAR", n, addr)
	}
}

// intxHandler is the guest's INTx handler: it reads (and so clears) the
// ISR status, which lowers the line, and passes the interrupt on.
func (p *pciDriver) intxHandler() {
	defer close(p.stopped)
	for {
		select {
		case <-p.stop:
			return
		case <-p.intx:
		}
		if !p.m.Bus.Dispatch(p.isr, make([]byte, 1), false) && !p.m.hostile.Load() {
			p.d.T.Errorf("the INTx handler's ISR read at %#x reached no BAR", p.isr)
		}
		p.d.pulse()
	}
}

func (p *pciDriver) status() uint32     { return uint32(p.read(p.common+0x14, 1)) }
func (p *pciDriver) setStatus(v uint32) { p.write(p.common+0x14, 1, uint64(v)) }
func (p *pciDriver) legacy() bool       { return false }

func (p *pciDriver) offered() uint64 {
	var f uint64
	for sel := uint64(0); sel < 2; sel++ {
		p.write(p.common, 4, sel)
		f |= p.read(p.common+4, 4) << (32 * sel)
	}
	return f
}

func (p *pciDriver) writeFeatures(f uint64) {
	for sel := uint64(0); sel < 2; sel++ {
		p.write(p.common+8, 4, sel)
		p.write(p.common+0xc, 4, f>>(32*sel)&0xffffffff)
	}
}

func (p *pciDriver) queueMax(i int) uint32 {
	if i >= p.numQueues {
		return 0
	}
	p.write(p.common+0x16, 2, uint64(i))
	return uint32(p.read(p.common+0x18, 2))
}

// setupQueue sets queue i up as Linux's vp_modern does: size, the rings'
// addresses in two 32-bit halves each, its MSI-X vector, then enable.
func (p *pciDriver) setupQueue(i int, size uint16, r *ring) {
	if i == 0 && p.msix {
		p.write(p.common+0x10, 2, 0) // configuration changes on vector 0
		if got := p.read(p.common+0x10, 2); got != 0 {
			p.d.T.Fatalf("config_msix_vector reads %#x after 0 was written", got)
		}
	}
	c := p.common
	p.write(c+0x16, 2, uint64(i))
	p.write(c+0x18, 2, uint64(size))
	for _, a := range []struct{ off, v uint64 }{{0x20, r.desc}, {0x28, r.avail}, {0x30, r.used}} {
		p.write(c+a.off, 4, a.v&0xffffffff)
		p.write(c+a.off+4, 4, a.v>>32)
	}
	if p.msix {
		p.write(c+0x1a, 2, uint64(i+1))
		if got := p.read(c+0x1a, 2); got != uint64(i+1) {
			p.d.T.Fatalf("queue %d's queue_msix_vector reads %#x after %d was written", i, got, i+1)
		}
	}
	p.write(c+0x1c, 2, 1)
}

// kick notifies queue i: the eventfd the function watches the doorbell
// with, as KVM signals it, or the doorbell write itself.
func (p *pciDriver) kick(i int) {
	p.m.mu.Lock()
	n, ok := p.m.watches[watchKey{p.notify, uint64(i)}]
	p.m.mu.Unlock()
	if ok {
		if err := n.(*kvm.EventFD).Signal(); err != nil {
			p.d.T.Errorf("signalling queue %d's notification: %v", i, err)
		}
		return
	}
	p.write(p.notify, 2, uint64(i))
}
