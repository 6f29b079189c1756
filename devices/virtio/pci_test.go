package virtio_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gokvm/gokvm/devices/pci"
	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm"
)

// Where the test driver puts the echo device's BARs (virtiotest's
// placement: each BAR at the next multiple of its size from
// PCIMemBase).
const (
	bar0Addr   = virtiotest.PCIMemBase
	bar1Addr   = virtiotest.PCIMemBase + 0x4000
	commonAddr = bar0Addr
	isrAddr    = bar0Addr + 0x1000
	notifyAddr = bar0Addr + 0x3000
	msixTable  = bar1Addr
	msixPBA    = bar1Addr + 0x20 // 2 vectors of 16 bytes
)

func newPCIEcho(t *testing.T, msix bool) (*virtiotest.Driver, *virtiotest.PCIMachine, *echoDevice) {
	t.Helper()
	e := &echoDevice{}
	d, m := virtiotest.NewPCI(t, e, msix)
	// Without EVENT_IDX: the driver wants an interrupt for every used
	// buffer.
	d.Setup(16, 1<<virtio.FeatureEventIdx)
	return d, m, e
}

func cfgRead(d *virtiotest.Driver, off uint64, n int) uint64 {
	b := make([]byte, n)
	d.Dev.ReadMMIO(off, b)
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func cfgWrite(d *virtiotest.Driver, off uint64, n int, v uint64) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	d.Dev.WriteMMIO(off, b)
}

func busRead(m *virtiotest.PCIMachine, addr uint64, n int) (uint64, bool) {
	b := make([]byte, n)
	ok := m.Bus.Dispatch(addr, b, false)
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, ok
}

func busWrite(m *virtiotest.PCIMachine, addr uint64, n int, v uint64) bool {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return m.Bus.Dispatch(addr, b, true)
}

func TestPCIIdentity(t *testing.T) {
	d, _, _ := newPCIEcho(t, true)
	for _, c := range []struct {
		name string
		off  uint64
		n    int
		want uint64
	}{
		{"vendor", pci.RegVendorID, 2, 0x1af4},
		{"device", pci.RegDeviceID, 2, 0x1040 + 42},
		{"revision", pci.RegRevision, 1, 1},
		{"class", pci.RegClass + 2, 1, 0xff},
		{"header type", pci.RegHeaderType, 1, 0},
		{"subsystem vendor", pci.RegSubsysVendorID, 2, 0x1af4},
		{"subsystem", pci.RegSubsysID, 2, 0x40 + 42},
		{"interrupt pin", pci.RegInterruptPin, 1, 1},
		{"status: a capability list", pci.RegStatus, 2, 0x10},
		{"no expansion ROM", pci.RegROM, 4, 0},
		{"BAR 2: none", pci.RegBAR0 + 8, 4, 0},
		{"extended configuration space", 0x100, 4, 0},
		{"function 1: absent", 0x1000, 4, 0xffffffff},
		{"function 7: absent", 0x7000, 2, 0xffff},
	} {
		if got := cfgRead(d, c.off, c.n); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	// Read-only fields stay as they are.
	cfgWrite(d, pci.RegVendorID, 4, 0x12345678)
	cfgWrite(d, pci.RegHeaderType, 1, 0x80)
	if cfgRead(d, pci.RegVendorID, 2) != 0x1af4 || cfgRead(d, pci.RegHeaderType, 1) != 0 {
		t.Errorf("the identity was writable")
	}
	// The capability list ends, and every capability is in range.
	seen := 0
	for off := cfgRead(d, pci.RegCapabilities, 1); off != 0; off = cfgRead(d, off+1, 1) {
		if off < 0x40 || off > 0xfc || seen > 16 {
			t.Fatalf("capability at %#x (%d seen)", off, seen)
		}
		seen++
	}
	if seen != 6 { // MSI-X, common, notify, ISR, device, PCI_CFG
		t.Errorf("%d capabilities, want 6", seen)
	}
}

func TestPCIEchoINTx(t *testing.T) {
	d, m, _ := newPCIEcho(t, false)
	if v := cfgRead(d, pci.RegBAR0+4, 4); v != 0 {
		t.Errorf("without an MSI controller BAR 1 reads %#x; want no BAR (no MSI-X)", v)
	}
	for i := range 5 {
		if !echo(t, d, fmt.Sprintf("intx %d", i), i%2 == 1) {
			return
		}
		waitIRQ(t, d, "pci")
	}
	// The handler read the ISR status: the line is down again.
	deadline := time.Now().Add(time.Second)
	for m.INTx.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if m.INTx.Load() {
		t.Errorf("INTx still asserted after the ISR status was read")
	}
}

func TestPCIINTxDisable(t *testing.T) {
	d, m, _ := newPCIEcho(t, false)
	cfgWrite(d, pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster|pci.CommandINTxDisable)
	echo(t, d, "disabled", false)
	time.Sleep(20 * time.Millisecond)
	if m.INTx.Load() {
		t.Errorf("INTx asserted while disabled")
	}
	if cfgRead(d, pci.RegStatus, 2)&0x08 == 0 {
		t.Errorf("the status register does not show the pending interrupt")
	}
	cfgWrite(d, pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster)
	waitIRQ(t, d, "pci") // the line goes up once enabled
}

func TestPCIEchoMSIX(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	for i := range 5 {
		if !echo(t, d, fmt.Sprintf("msi-x %d", i), false) {
			return
		}
		waitIRQ(t, d, "pci")
	}
	if got := m.Signals(1); got != 5 {
		t.Errorf("queue 0's vector (data 1) was signalled %d times, want 5", got)
	}
	if m.Signals(0) != 0 || m.INTx.Load() {
		t.Errorf("the configuration vector or INTx fired for used buffers")
	}
	if m.Routes.Load() != 1 {
		t.Errorf("%d routes made for one message", m.Routes.Load())
	}
}

func TestPCIMSIXMasking(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	entry := uint64(msixTable + 16) // vector 1: queue 0
	busWrite(m, entry+12, 4, 1)     // masked
	echo(t, d, "masked", false)
	if m.Signals(1) != 0 {
		t.Fatalf("a masked vector was signalled")
	}
	if pba, _ := busRead(m, msixPBA, 8); pba != 1<<1 {
		t.Errorf("PBA %#x, want vector 1 pending", pba)
	}
	busWrite(m, entry+12, 4, 0)
	waitIRQ(t, d, "pci")
	if pba, _ := busRead(m, msixPBA, 8); pba != 0 || m.Signals(1) != 1 {
		t.Errorf("unmasking sent %d messages and left PBA %#x", m.Signals(1), pba)
	}
	// The function mask holds every vector.
	ctrl := cfgRead(d, msixCapOffset(t, d)+2, 2)
	cfgWrite(d, msixCapOffset(t, d)+2, 2, ctrl|1<<14)
	echo(t, d, "function masked", false)
	if m.Signals(1) != 1 {
		t.Fatalf("a vector was signalled under the function mask")
	}
	cfgWrite(d, msixCapOffset(t, d)+2, 2, ctrl)
	waitIRQ(t, d, "pci")
	if m.Signals(1) != 2 {
		t.Errorf("the pending message was not sent when the function mask went")
	}
	// The table size is read-only.
	cfgWrite(d, msixCapOffset(t, d)+2, 2, 0xffff&^(1<<14))
	if got := cfgRead(d, msixCapOffset(t, d)+2, 2) & 0x7ff; got != 1 {
		t.Errorf("the table size became %d", got+1)
	}
}

// msixCapOffset finds the MSI-X capability.
func msixCapOffset(t *testing.T, d *virtiotest.Driver) uint64 {
	for off := cfgRead(d, pci.RegCapabilities, 1); off != 0; off = cfgRead(d, off+1, 1) {
		if cfgRead(d, off, 1) == 0x11 {
			return off
		}
	}
	t.Fatalf("no MSI-X capability")
	return 0
}

// TestPCIMSIXHostileTable: a vector whose message goes nowhere sends
// nothing, and the device goes on; narrow and misaligned table accesses
// are ignored.
func TestPCIMSIXHostileTable(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	entry := uint64(msixTable + 16)
	busWrite(m, entry, 4, 0xdead0000)
	busWrite(m, entry+4, 4, 0xffffffff)
	echo(t, d, "nowhere", false)
	if m.Signals(1) != 0 {
		t.Errorf("a message to nowhere was signalled")
	}
	if !strings.Contains(d.Log(), "sends nothing") {
		t.Errorf("the unroutable vector was not logged: %q", d.Log())
	}
	busWrite(m, entry, 4, virtiotest.MSIDoorbell)
	busWrite(m, entry+4, 4, 0)
	echo(t, d, "somewhere", false)
	waitIRQ(t, d, "pci")
	if m.Signals(1) != 1 {
		t.Errorf("the repaired vector was signalled %d times", m.Signals(1))
	}
	for _, a := range []struct {
		off uint64
		n   int
	}{{entry + 1, 4}, {entry, 2}, {entry + 4, 8}, {entry + 12, 1}} {
		busWrite(m, a.off, a.n, 0xffffffffffffffff)
	}
	if v, _ := busRead(m, entry, 4); v != virtiotest.MSIDoorbell {
		t.Errorf("a malformed table write changed the entry: %#x", v)
	}
	// The PBA is read-only, and past the table and PBA reads zero.
	busWrite(m, msixPBA, 8, 0xff)
	if v, _ := busRead(m, msixPBA, 8); v != 0 {
		t.Errorf("the PBA was written: %#x", v)
	}
	if v, _ := busRead(m, bar1Addr+0x800, 4); v != 0 {
		t.Errorf("past the PBA reads %#x", v)
	}
}

func TestPCIVectorsOutOfRange(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	busWrite(m, commonAddr+0x16, 2, 0)
	for _, reg := range []uint64{0x10, 0x1a} {
		busWrite(m, commonAddr+reg, 2, 2) // the table has vectors 0 and 1
		if v, _ := busRead(m, commonAddr+reg, 2); v != virtio.NoVector {
			t.Errorf("vector register %#x reads %#x after an out-of-range vector; want NO_VECTOR", reg, v)
		}
	}
	// Without a vector, a queue's used buffers signal nothing.
	echo(t, d, "no vector", false)
	time.Sleep(20 * time.Millisecond)
	if m.Signals(1) != 0 || m.Signals(0) != 0 || m.INTx.Load() {
		t.Errorf("an interrupt without a vector")
	}
}

// TestPCIBARs: sizing, mapping only with memory decoding on, moving (the
// doorbell's watch follows), and BARs put where nothing can be.
func TestPCIBARs(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	for i, want := range []uint64{0x4000, 0x1000} {
		reg := uint64(pci.RegBAR0 + 4*i)
		old := cfgRead(d, reg, 4)
		cfgWrite(d, reg, 4, 0xffffffff)
		if size := uint64(^uint32(cfgRead(d, reg, 4)&^0xf)) + 1; size != want {
			t.Errorf("BAR %d sizes as %#x, want %#x", i, size, want)
		}
		cfgWrite(d, reg, 4, old)
	}
	// Decoding off: nothing answers at BAR 0.
	cfgWrite(d, pci.RegCommand, 2, pci.CommandMaster)
	if _, ok := busRead(m, commonAddr, 4); ok {
		t.Errorf("BAR 0 answers with memory decoding off")
	}
	cfgWrite(d, pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster)
	if v, ok := busRead(m, commonAddr+0x12, 2); !ok || v != 1 {
		t.Errorf("num_queues %d, %v after decoding came back on", v, ok)
	}
	// Moved: the device answers at the new place, a kick (through the
	// watched eventfd) still reaches the queue.
	moved := uint64(virtiotest.PCIMemBase + 0x10_0000)
	cfgWrite(d, pci.RegBAR0, 4, moved)
	if _, ok := busRead(m, commonAddr, 4); ok {
		t.Errorf("BAR 0 still answers where it was")
	}
	if v, ok := busRead(m, moved+0x12, 2); !ok || v != 1 {
		t.Errorf("BAR 0 does not answer where it moved")
	}
	if !m.Watched(moved+0x3000, 0) || m.Watched(notifyAddr, 0) {
		t.Errorf("the doorbell's watch did not move with BAR 0")
	}
	out := submitEcho(d, "moved", false)
	busWrite(m, moved+0x3000, 2, 0)
	checkEcho(t, d, out, "moved")
	// Outside the host bridge's window, or over BAR 1: not mapped.
	for _, addr := range []uint64{0x1000_0000, bar1Addr} {
		cfgWrite(d, pci.RegBAR0, 4, addr)
		if v, ok := busRead(m, addr+0x12, 2); ok && v == 1 {
			t.Errorf("BAR 0 mapped at %#x", addr)
		}
	}
	if !strings.Contains(d.Log(), "not mapped") {
		t.Errorf("a refused BAR was not logged: %q", d.Log())
	}
	// Back where it can be: it works again.
	cfgWrite(d, pci.RegBAR0, 4, bar0Addr)
	if v, ok := busRead(m, commonAddr+0x12, 2); !ok || v != 1 {
		t.Errorf("BAR 0 back in place does not answer")
	}
	// Byte writes to a BAR keep its alignment.
	cfgWrite(d, pci.RegBAR0, 1, 0xff)
	if v := cfgRead(d, pci.RegBAR0, 4); v != bar0Addr {
		t.Errorf("BAR 0 reads %#x after a byte write of its low bits", v)
	}
}

// TestPCIDoorbell: any 16- or 32-bit write of a queue index kicks it; an
// index that is no queue does nothing.
func TestPCIDoorbell(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	for _, q := range []uint64{1, 7, 0xffff} {
		busWrite(m, notifyAddr, 2, q)
	}
	out := submitEcho(d, "32-bit kick", false)
	busWrite(m, notifyAddr, 4, 0)
	checkEcho(t, d, out, "32-bit kick")
	if d.NeedsReset() {
		t.Errorf("notifications of no queue broke the device")
	}
}

// TestPCICfgCapability: the PCI_CFG capability reaches BAR 0 through
// configuration space.
func TestPCICfgCapability(t *testing.T) {
	d, _, _ := newPCIEcho(t, true)
	var cfgCap uint64
	for off := cfgRead(d, pci.RegCapabilities, 1); off != 0; off = cfgRead(d, off+1, 1) {
		if cfgRead(d, off, 1) == 0x09 && cfgRead(d, off+3, 1) == 5 {
			cfgCap = off
		}
	}
	if cfgCap == 0 {
		t.Fatalf("no PCI_CFG capability")
	}
	access := func(off uint64, n int, v uint64, write bool) uint64 {
		cfgWrite(d, cfgCap+4, 1, 0)   // BAR 0
		cfgWrite(d, cfgCap+8, 4, off) // offset
		cfgWrite(d, cfgCap+12, 4, uint64(n))
		if write {
			cfgWrite(d, cfgCap+16, n, v)
			return 0
		}
		return cfgRead(d, cfgCap+16, n)
	}
	if v := access(0x12, 2, 0, false); v != 1 {
		t.Errorf("num_queues through PCI_CFG: %d", v)
	}
	access(0x00, 4, 1, true) // device_feature_select
	if v := access(0x04, 4, 0, false); v != 1 {
		t.Errorf("device_feature[1] through PCI_CFG: %#x, want VERSION_1", v)
	}
	// Misaligned, too long, and another BAR's out-of-range offsets do
	// nothing.
	access(0x16, 2, 0, true)
	access(0x17, 2, 0xffff, true) // misaligned queue_select
	if v := access(0x16, 2, 0, false); v != 0 {
		t.Errorf("a misaligned PCI_CFG write reached queue_select: %#x", v)
	}
	cfgWrite(d, cfgCap+4, 1, 5)
	cfgWrite(d, cfgCap+8, 4, 0xfffffffc)
	cfgWrite(d, cfgCap+12, 4, 4)
	cfgWrite(d, cfgCap+16, 4, 0)
	if cfgRead(d, cfgCap+16, 4) != 0 {
		t.Errorf("a PCI_CFG read of no BAR gave data")
	}
}

// TestPCIDriverErrors: the status rules hold over virtio-pci; a broken
// device signals its configuration vector.
func TestPCIDriverErrors(t *testing.T) {
	d, m, e := newPCIEcho(t, true)
	busWrite(m, commonAddr+0x16, 2, 0)
	busWrite(m, commonAddr+0x18, 2, 8) // queue_size while running
	d.WaitNeedsReset()
	if !strings.Contains(d.Log(), "queue_size") {
		t.Errorf("the log does not name queue_size: %q", d.Log())
	}
	deadline := time.Now().Add(time.Second)
	for m.Signals(0) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if m.Signals(0) != 1 {
		t.Errorf("the configuration vector was signalled %d times", m.Signals(0))
	}
	if v, _ := busRead(m, isrAddr, 1); v&virtio.InterruptConfigChange == 0 {
		t.Errorf("ISR %#x lacks the configuration change", v)
	}
	d.Setup(16, 0)
	if !echo(t, d, "after reset", false) || e.handled.Load() != 1 {
		t.Errorf("the device does not work after a reset")
	}
	// A size that is no power of 2 is refused before DRIVER_OK too.
	busWrite(m, commonAddr+0x14, 1, 0)
	busWrite(m, commonAddr+0x16, 2, 0)
	if v, _ := busRead(m, commonAddr+0x18, 2); v != virtio.MaxQueueSize {
		t.Errorf("queue_size reads %d after a reset, want the largest", v)
	}
	busWrite(m, commonAddr+0x18, 2, 24)
	if !d.NeedsReset() {
		t.Errorf("a queue_size of 24 was taken")
	}
}

// TestPCICommonAccesses: fields answer only in their width (64-bit ones
// also as halves); other accesses read zero and change nothing; queues
// that are not there read zero.
func TestPCICommonAccesses(t *testing.T) {
	d, m, _ := newPCIEcho(t, true)
	d.Setup(16, 0)
	busWrite(m, commonAddr+0x16, 2, 0)
	if v, _ := busRead(m, commonAddr+0x20, 8); v != virtiotest.RAMBase {
		t.Errorf("queue_desc reads %#x as 64 bits", v)
	}
	if v, _ := busRead(m, commonAddr+0x24, 4); v != 0 {
		t.Errorf("queue_desc's high half reads %#x", v)
	}
	if v, _ := busRead(m, commonAddr+0x12, 4); v != 0 {
		t.Errorf("a 32-bit read of num_queues gave %#x", v)
	}
	busWrite(m, commonAddr+0x14, 4, 0) // not device_status's width: no reset
	if d.Status()&virtio.StatusDriverOK == 0 {
		t.Errorf("a 32-bit write at device_status reset the device")
	}
	busWrite(m, commonAddr+0x16, 2, 5)
	for _, off := range []uint64{0x18, 0x1a, 0x1c, 0x20} {
		if v, _ := busRead(m, commonAddr+off, 2); v != 0 {
			t.Errorf("queue 5's field %#x reads %#x", off, v)
		}
	}
	busWrite(m, commonAddr+0x18, 2, 4) // no such queue: ignored
	if d.NeedsReset() {
		t.Errorf("writing a queue that is not there broke the device")
	}
}

// TestPCISpecCreatesFunction: PCISpec places the device as a PCI
// function, and its description is its host bridge's interrupt-map
// entry.
func TestPCISpecCreatesFunction(t *testing.T) {
	s := virtio.PCISpec("virtio-echo", &echoDevice{})
	if s.Area != vmm.AreaPCI || s.Background {
		t.Errorf("area %v, background %v", s.Area, s.Background)
	}
	var dt fakeTree
	p := vmm.Placement{Base: 0x4000_8000, Size: 0x8000, IRQ: 4}
	s.Describe(&dt, p)
	if len(dt.pciFuncs) != 1 || dt.pciFuncs[0] != p {
		t.Errorf("described as %+v", dt.pciFuncs)
	}
	h := pci.HostSpec()
	if h.Area != vmm.AreaPCIHost || !h.Background {
		t.Errorf("host bridge: area %v, background %v", h.Area, h.Background)
	}
	dev, err := h.New(vmm.DeviceEnv{})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	dev.ReadMMIO(0x8000, b)
	if binary.LittleEndian.Uint32(b) != 0xffffffff {
		t.Errorf("an absent function reads %x", b)
	}
}

// TestPCINotSaved: a virtio-pci device refuses to be saved, saying why.
func TestPCINotSaved(t *testing.T) {
	d, _, _ := newPCIEcho(t, false)
	_, err := d.Save()
	if !errors.Is(err, vmm.ErrNotSaveable) || !strings.Contains(err.Error(), "--virtio-transport mmio") {
		t.Errorf("saving: %v", err)
	}
}
