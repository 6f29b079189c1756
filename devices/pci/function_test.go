package pci

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// testMachine is what a function is made with here: a real MMIO bus for
// its BARs, its INTx line, its MSIs.
type testMachine struct {
	bus    vmm.MMIOBus
	logs   bytes.Buffer
	mu     sync.Mutex
	line   bool
	lines  int // times the line was set
	msis   []*recordMSI
	noMSIs bool
}

func (m *testMachine) env() vmm.DeviceEnv {
	return vmm.DeviceEnv{
		Name:      "fn",
		Log:       log.New(&m.logs, "", 0),
		Placement: vmm.Placement{Base: 0x4000_0000, Size: 0x8000, IRQ: 3, DynamicBase: 0x5000_0000, DynamicSize: 0x1000_0000},
		SetLevel: func(v bool) {
			m.mu.Lock()
			m.line, m.lines = v, m.lines+1
			m.mu.Unlock()
		},
		MapWindow: func(base, size uint64, dev vmm.MMIODevice) (vmm.Window, error) {
			if base < 0x5000_0000 || base+size > 0x6000_0000 {
				return nil, fmt.Errorf("%w: outside", vmm.ErrWindowRefused)
			}
			id, err := m.bus.Map("bar", base, size, dev)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", vmm.ErrWindowRefused, err)
			}
			return &busWindow{bus: &m.bus, id: id}, nil
		},
		NewMSI: func() (vmm.MSI, error) {
			if m.noMSIs {
				return nil, vmm.ErrUnsupported
			}
			v := &recordMSI{}
			m.msis = append(m.msis, v)
			return v, nil
		},
	}
}

type busWindow struct {
	bus *vmm.MMIOBus
	id  uint64
}

func (w *busWindow) WatchWrite(vmm.EventFDNotification, uint64, uint32, uint64) error {
	return vmm.ErrUnsupported
}
func (w *busWindow) Close() error { w.bus.Unmap(w.id); return nil }

// recordMSI counts routes and signals; a message to 0xfee00000 routes.
type recordMSI struct {
	mu              sync.Mutex
	routes, signals int
	addr            uint64
	data            uint32
}

func (v *recordMSI) Route(addr uint64, data uint32) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.routes++
	v.addr, v.data = addr, data
	if addr != 0xfee0_0000 {
		return errors.New("not the doorbell")
	}
	return nil
}

func (v *recordMSI) Signal() error {
	v.mu.Lock()
	v.signals++
	v.mu.Unlock()
	return nil
}

func (v *recordMSI) counts() (routes, signals int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.routes, v.signals
}

// region is a BAR's device: it remembers what was written.
type region struct {
	mu  sync.Mutex
	mem [0x1000]byte
}

func (r *region) ReadMMIO(off uint64, data []byte) {
	r.mu.Lock()
	copy(data, r.mem[off:])
	r.mu.Unlock()
}

func (r *region) WriteMMIO(off uint64, data []byte) {
	r.mu.Lock()
	copy(r.mem[off:], data)
	r.mu.Unlock()
}

func rd(f *Function, off uint64, n int) uint64 {
	b := make([]byte, n)
	f.ReadMMIO(off, b)
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func wr(f *Function, off uint64, n int, v uint64) {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	f.WriteMMIO(off, b)
}

func newTestFunction(t *testing.T, m *testMachine) (*Function, *region) {
	t.Helper()
	f := NewFunction("fn", Identity{Vendor: 0x1af4, Device: 0x1042, Class: 1, Subclass: 0x80}, m.env())
	r := &region{}
	if err := f.AddBAR(0, 0x1000, r, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, r
}

func TestFunctionSetUpErrors(t *testing.T) {
	m := &testMachine{}
	f, r := newTestFunction(t, m)
	for _, c := range []struct {
		i    int
		size uint32
	}{{0, 0x1000}, {6, 0x1000}, {-1, 0x1000}, {1, 0x800}, {1, 0x3000}} {
		if err := f.AddBAR(c.i, c.size, r, nil); err == nil {
			t.Errorf("BAR %d of %#x bytes accepted", c.i, c.size)
		}
	}
	// Capabilities fill configuration space, then are refused.
	n := 0
	for ; n < 100; n++ {
		if _, err := f.AddCapability(0x09, make([]byte, 18), nil); err != nil {
			break
		}
	}
	if n != 9 { // 20 bytes each, 4-aligned, from 0x40 to 0x100
		t.Errorf("%d capabilities fit", n)
	}
	if _, err := f.AddMSIX(0, 1); err == nil {
		t.Errorf("an MSI-X table of 0 vectors accepted")
	}
	m.noMSIs = true
	if _, err := f.AddMSIX(4, 1); !errors.Is(err, vmm.ErrUnsupported) {
		t.Errorf("MSI-X without an MSI controller: %v", err)
	}
}

func TestFunctionBARs(t *testing.T) {
	m := &testMachine{}
	f, r := newTestFunction(t, m)
	wr(f, RegBAR0, 4, 0xffffffff)
	if v := rd(f, RegBAR0, 4); v != 0xfffff000 {
		t.Errorf("BAR 0 sizes as %#x", v)
	}
	wr(f, RegBAR0, 4, 0x5000_0abc) // low bits are not the guest's
	if v := rd(f, RegBAR0, 4); v != 0x5000_0000 {
		t.Errorf("BAR 0 reads %#x", v)
	}
	data := []byte{1, 2, 3, 4}
	if m.bus.Dispatch(0x5000_0010, data, true) {
		t.Errorf("BAR 0 mapped with memory decoding off")
	}
	wr(f, RegCommand, 2, CommandMemory)
	if !m.bus.Dispatch(0x5000_0010, data, true) || r.mem[0x10] != 1 {
		t.Errorf("BAR 0 not mapped with memory decoding on")
	}
	// Moved a byte at a time: the mapping follows each step.
	wr(f, RegBAR0+3, 1, 0x51)
	if m.bus.Dispatch(0x5000_0010, data, false) || !m.bus.Dispatch(0x5100_0010, data, false) {
		t.Errorf("BAR 0 did not move to 0x51000000")
	}
	// Outside the window: unmapped, logged once.
	wr(f, RegBAR0, 4, 0x7000_0000)
	wr(f, RegBAR0, 4, 0x7100_0000)
	if m.bus.Dispatch(0x7000_0010, data, false) || m.bus.Dispatch(0x5100_0010, data, false) {
		t.Errorf("BAR 0 mapped outside the window, or left where it was")
	}
	if c := strings.Count(m.logs.String(), "not mapped"); c != 1 {
		t.Errorf("a refused BAR was logged %d times:\n%s", c, m.logs.String())
	}
	// BARAccess reaches the BAR wherever it is, within its size.
	b := make([]byte, 4)
	f.BARAccess(0, 0x10, b, false)
	if b[0] != 1 {
		t.Errorf("BARAccess read %x", b)
	}
	for _, a := range []struct {
		i   int
		off uint64
	}{{0, 0xffe}, {0, 0x1000}, {1, 0}, {9, 0}, {-1, 0}} {
		b := []byte{9, 9, 9, 9}
		f.BARAccess(a.i, a.off, b, false)
		if !bytes.Equal(b, make([]byte, 4)) {
			t.Errorf("BARAccess(%d, %#x) read %x", a.i, a.off, b)
		}
		f.BARAccess(a.i, a.off, b, true)
	}
	// Closed: unmapped, and never mapped again.
	wr(f, RegBAR0, 4, 0x5000_0000)
	f.Close()
	if m.bus.Dispatch(0x5000_0010, data, false) {
		t.Errorf("a closed function's BAR is mapped")
	}
	wr(f, RegCommand, 2, 0)
	wr(f, RegCommand, 2, CommandMemory)
	if m.bus.Dispatch(0x5000_0010, data, false) {
		t.Errorf("a closed function mapped its BAR again")
	}
}

func TestFunctionINTx(t *testing.T) {
	m := &testMachine{}
	f, _ := newTestFunction(t, m)
	f.SetINTx(true)
	if !m.line || rd(f, RegStatus, 2)&statusInterrupt == 0 {
		t.Errorf("INTx: line %v, status %#x", m.line, rd(f, RegStatus, 2))
	}
	f.SetINTx(true) // already up: the line is not set again
	if m.lines != 1 {
		t.Errorf("the line was set %d times", m.lines)
	}
	wr(f, RegCommand, 2, CommandINTxDisable)
	if m.line || rd(f, RegStatus, 2)&statusInterrupt == 0 {
		t.Errorf("disabled INTx: line %v, the status must still show it", m.line)
	}
	wr(f, RegCommand, 2, 0)
	if !m.line {
		t.Errorf("INTx re-enabled: line down")
	}
	f.SetINTx(false)
	if m.line || rd(f, RegStatus, 2)&statusInterrupt != 0 {
		t.Errorf("deasserted: line %v", m.line)
	}
}

func TestFunctionMSIX(t *testing.T) {
	m := &testMachine{}
	f, _ := newTestFunction(t, m)
	x, err := f.AddMSIX(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	capOff := uint64(rd(f, RegCapabilities, 1))
	if rd(f, capOff, 1) != capIDMSIX || rd(f, capOff+2, 2) != 2 || rd(f, capOff+4, 4) != 2 || rd(f, capOff+8, 4) != 0x30|2 {
		t.Errorf("MSI-X capability: %#x %#x %#x", rd(f, capOff+2, 2), rd(f, capOff+4, 4), rd(f, capOff+8, 4))
	}
	wr(f, RegBAR0+8, 4, 0x5000_4000)
	wr(f, RegCommand, 2, CommandMemory)
	table := func(off uint64, v uint32) {
		b := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
		m.bus.Dispatch(0x5000_4000+off, b, true)
	}
	x.Signal(1) // MSI-X disabled: nothing
	table(0x10, 0xfee0_0000)
	table(0x18, 0x41)
	table(0x1c, 0) // unmasked
	if _, s := m.msis[1].counts(); s != 0 {
		t.Fatalf("a vector signalled with MSI-X disabled")
	}
	f.SetINTx(true)
	wr(f, capOff+2, 2, msixControlEnable)
	if m.line {
		t.Errorf("INTx drives the line with MSI-X enabled")
	}
	x.Signal(1)
	x.Signal(1)
	if r, s := m.msis[1].counts(); r != 1 || s != 2 || m.msis[1].data != 0x41 {
		t.Errorf("vector 1: %d routes, %d signals, data %#x", r, s, m.msis[1].data)
	}
	// Vector 0 is masked: pending, then sent on unmask; its message
	// goes nowhere, so nothing is sent, and that is logged.
	x.Signal(0)
	pba := make([]byte, 8)
	m.bus.Dispatch(0x5000_4030, pba, false)
	if pba[0] != 1 {
		t.Errorf("PBA %x", pba)
	}
	table(0x0c, 0)
	if r, s := m.msis[0].counts(); r != 1 || s != 0 || !strings.Contains(m.logs.String(), "sends nothing") {
		t.Errorf("vector 0 to address 0: %d routes, %d signals", r, s)
	}
	m.bus.Dispatch(0x5000_4030, pba, false)
	if pba[0] != 0 {
		t.Errorf("PBA %x after the unmask", pba)
	}
	x.Signal(2)
	x.Signal(-1)
	x.Signal(3)
	if _, s := m.msis[2].counts(); s != 0 {
		t.Errorf("a masked vector signalled")
	}
	// Reading the table back.
	b := make([]byte, 8)
	m.bus.Dispatch(0x5000_4010, b, false)
	if b[0] != 0 || b[3] != 0xfe {
		t.Errorf("entry 1 reads %x", b)
	}
}

func TestAbsentHost(t *testing.T) {
	h := HostSpec()
	d, err := h.New(vmm.DeviceEnv{})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	d.WriteMMIO(0, []byte{0, 0})
	d.ReadMMIO(0, b)
	if b[0] != 0xff || b[1] != 0xff {
		t.Errorf("an absent function reads %x", b)
	}
	if st, err := d.(vmm.StateDevice).SaveState(); err != nil || d.(vmm.StateDevice).RestoreState(st) != nil {
		t.Errorf("the host bridge's state: %s, %v", st, err)
	}
}
