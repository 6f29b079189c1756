package pci

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"sync"

	"github.com/gokvm/gokvm/vmm"
	"github.com/hashicorp/go-multierror"
)

// Identity is what a function's header says it is.
type Identity struct {
	Vendor, Device                 uint16
	SubsystemVendor, Subsystem     uint16
	Revision                       uint8
	Class, Subclass, ProgInterface uint8
}

// Function is one PCI function's configuration space, BARs and
// interrupts. It is the device's vmm.MMIODevice in ECAM: its window is
// its device number's configuration space, function 0 first; the other
// seven functions are absent. Any number of vcpus may access it at once.
//
// It is set up (AddBAR, AddCapability, AddMSIX) before the guest runs;
// from then on the guest owns the writable registers, and nothing it
// writes there reaches beyond the function: a BAR is mapped only inside
// the placement's Dynamic range (the host bridge's memory window) and
// where no other window is, otherwise not at all.
type Function struct {
	name string
	env  vmm.DeviceEnv
	log  *log.Logger

	// mu guards the configuration space and the BARs. It is taken
	// before the interrupt state's (irq) and never held across a
	// Hook.
	mu    sync.Mutex
	cfg   [ConfigSize]byte
	wmask [ConfigSize]byte // the bits the guest may write
	bars  [NumBARs]bar
	// lastCap is the offset of the last capability (RegCapabilities
	// before the first), nextCap where the next goes (0: firstCap).
	lastCap, nextCap int
	hooks            []hook
	msix             *MSIX
	// refusedOnce: a refused BAR mapping was logged.
	refusedOnce bool
	closed      bool // Close was called: nothing is mapped again

	irq irqState
}

// bar is one memory BAR: its size, what answers in it, and where the
// guest has it.
type bar struct {
	size  uint32 // a power of 2; 0: no BAR
	dev   vmm.MMIODevice
	onMap func(vmm.Window) error
	addr  uint32 // as programmed, size-aligned
	win   vmm.Window
	// mappedAt is where win is.
	mappedAt uint32
}

// Hook is called for a guest access to a range of the configuration
// space (Function.AddHook), without the function's lock held, after a
// write has been stored and before a read is answered.
type Hook func(write bool)

type hook struct {
	off, n int
	fn     Hook
}

// NewFunction makes a function that says it is id, placed as env says,
// with its INTA pin wired to env's interrupt.
func NewFunction(name string, id Identity, env vmm.DeviceEnv) *Function {
	logger := env.Log
	if logger == nil {
		logger = log.New(os.Stderr, "", 0)
	}
	f := &Function{name: name, env: env, log: logger, lastCap: RegCapabilities}
	f.irq.setLevel = env.SetLevel
	le := binary.LittleEndian
	le.PutUint16(f.cfg[RegVendorID:], id.Vendor)
	le.PutUint16(f.cfg[RegDeviceID:], id.Device)
	f.cfg[RegRevision] = id.Revision
	f.cfg[RegClass], f.cfg[RegClass+1], f.cfg[RegClass+2] = id.ProgInterface, id.Subclass, id.Class
	f.cfg[RegHeaderType] = headerTypeNormal
	le.PutUint16(f.cfg[RegSubsysVendorID:], id.SubsystemVendor)
	le.PutUint16(f.cfg[RegSubsysID:], id.Subsystem)
	f.cfg[RegInterruptPin] = interruptPinINTA
	le.PutUint16(f.wmask[RegCommand:], commandWritable)
	f.wmask[RegCacheLineSize] = 0xff
	f.wmask[RegLatencyTimer] = 0xff
	f.wmask[RegInterruptLine] = 0xff
	return f
}

// AddBAR gives the function memory BAR i of size bytes (a power of 2,
// at least a page), answered by dev at offsets in it. onMap, when not
// nil, is called each time the BAR is mapped, with its window (to watch
// writes in it), under the function's lock.
func (f *Function) AddBAR(i int, size uint32, dev vmm.MMIODevice, onMap func(vmm.Window) error) error {
	switch {
	case i < 0 || i >= NumBARs:
		return fmt.Errorf("BAR %d: a function has BARs 0 to %d", i, NumBARs-1)
	case size < minBARSize || size&(size-1) != 0:
		return fmt.Errorf("BAR %d: %d bytes is not a power of 2 of at least %d", i, size, minBARSize)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bars[i].size != 0 {
		return fmt.Errorf("BAR %d given twice", i)
	}
	f.bars[i] = bar{size: size, dev: dev, onMap: onMap}
	return nil
}

// AddCapability appends a capability with id and body (what follows its
// ID and next pointer) to the list, and returns its offset. writable
// says which bits of body the guest may write (nil: none).
func (f *Function) AddCapability(id uint8, body, writable []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off := f.nextCap
	if off == 0 {
		off = firstCap
	}
	if off+2+len(body) > ConfigSize || len(writable) > len(body) {
		return 0, fmt.Errorf("no room for a %d-byte capability at %#x", 2+len(body), off)
	}
	f.cfg[off] = id
	copy(f.cfg[off+2:], body)
	copy(f.wmask[off+2:], writable)
	if f.lastCap == RegCapabilities {
		f.cfg[RegCapabilities] = byte(off)
	} else {
		f.cfg[f.lastCap+1] = byte(off)
	}
	f.lastCap = off
	f.nextCap = (off + 2 + len(body) + 3) &^ 3
	binary.LittleEndian.PutUint16(f.cfg[RegStatus:], statusCapList)
	return off, nil
}

// AddHook calls fn for every guest access to [off, off+n) of the
// configuration space.
func (f *Function) AddHook(off, n int, fn Hook) {
	f.mu.Lock()
	f.hooks = append(f.hooks, hook{off, n, fn})
	f.mu.Unlock()
}

// ConfigBytes reads n bytes of the configuration space at off, as
// stored (for a Hook).
func (f *Function) ConfigBytes(off, n int) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < 0 || n < 0 || off+n > ConfigSize {
		return make([]byte, max(n, 0))
	}
	return append([]byte(nil), f.cfg[off:off+n]...)
}

// SetConfigBytes stores b at off in the configuration space (for a Hook
// answering a read), whatever the guest may write there.
func (f *Function) SetConfigBytes(off int, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= 0 && off+len(b) <= ConfigSize {
		copy(f.cfg[off:], b)
	}
}

// ReadMMIO implements vmm.MMIODevice: the function's configuration space
// in ECAM.
func (f *Function) ReadMMIO(off uint64, data []byte) {
	switch {
	case off >= FunctionSize:
		fill(data, 0xff) // functions 1 to 7: absent
		return
	case off >= ConfigSize || off+uint64(len(data)) > ConfigSize:
		clear(data) // no extended capabilities
		return
	}
	o := int(off)
	f.runHooks(o, len(data), false)
	f.mu.Lock()
	for i := range data {
		data[i] = f.readByte(o + i)
	}
	f.mu.Unlock()
}

// WriteMMIO implements vmm.MMIODevice.
func (f *Function) WriteMMIO(off uint64, data []byte) {
	if off >= ConfigSize || off+uint64(len(data)) > ConfigSize {
		return
	}
	o := int(off)
	f.mu.Lock()
	f.write(o, data)
	f.mu.Unlock()
	f.runHooks(o, len(data), true)
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// runHooks calls the hooks of the ranges [off, off+n) touches, without
// the lock.
func (f *Function) runHooks(off, n int, write bool) {
	f.mu.Lock()
	var run []Hook
	for _, h := range f.hooks {
		if off < h.off+h.n && h.off < off+n {
			run = append(run, h.fn)
		}
	}
	f.mu.Unlock()
	for _, fn := range run {
		fn(write)
	}
}

// readByte is the guest's view of configuration byte o: the stored one,
// but for what is computed (BARs, the interrupt status); f.mu is held.
func (f *Function) readByte(o int) byte {
	switch {
	case o >= RegBAR0 && o < RegBAR0+4*NumBARs:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], f.barValue((o-RegBAR0)/4))
		return b[o%4]
	case o == RegStatus && f.irq.asserted():
		return f.cfg[o] | statusInterrupt
	}
	return f.cfg[o]
}

// barValue is what BAR i reads: its address and type, 0 for no BAR.
func (f *Function) barValue(i int) uint32 {
	b := &f.bars[i]
	if b.size == 0 {
		return 0
	}
	return b.addr | barMemory32
}

// write stores data at o as the guest may, then acts on what changed;
// f.mu is held.
func (f *Function) write(o int, data []byte) {
	remap := false
	for i, v := range data {
		a := o + i
		if a >= RegBAR0 && a < RegBAR0+4*NumBARs {
			f.writeBARByte((a-RegBAR0)/4, a%4, v)
			remap = true
			continue
		}
		f.cfg[a] = f.cfg[a]&^f.wmask[a] | v&f.wmask[a]
	}
	touches := func(reg, n int) bool { return o < reg+n && reg < o+len(data) }
	if touches(RegCommand, 2) {
		remap = true
		f.irq.setDisabled(f.command()&CommandINTxDisable != 0)
	}
	if remap {
		f.mapBARs()
	}
	if f.msix != nil && touches(f.msix.capOff+2, 2) {
		f.msix.setControl(binary.LittleEndian.Uint16(f.cfg[f.msix.capOff+2:]))
	}
}

// writeBARByte writes byte k of BAR i's register: the address bits the
// BAR's size leaves, the type bits read-only. Writing all ones reads
// back the size (the guest's sizing).
func (f *Function) writeBARByte(i, k int, v byte) {
	b := &f.bars[i]
	if b.size == 0 {
		return
	}
	shift := 8 * k
	raw := b.addr&^(0xff<<shift) | uint32(v)<<shift
	b.addr = raw &^ (b.size - 1) &^ barFlagsMask
}

func (f *Function) command() uint16 { return binary.LittleEndian.Uint16(f.cfg[RegCommand:]) }

// mapBARs maps each BAR where the guest has it while memory decoding is
// on, and unmaps it otherwise; f.mu is held. A BAR the guest put where
// it cannot be (outside the host bridge's window, over another) is not
// mapped: accesses there reach no device, and the first refusal is
// logged.
func (f *Function) mapBARs() {
	on := f.command()&CommandMemory != 0 && !f.closed
	for i := range f.bars {
		b := &f.bars[i]
		if b.size == 0 {
			continue
		}
		want := on && b.addr != 0
		if b.win != nil && (!want || b.addr != b.mappedAt) {
			if err := b.win.Close(); err != nil {
				f.log.Printf("%s: unmapping BAR %d: %v", f.name, i, err)
			}
			b.win = nil
		}
		if !want || b.win != nil {
			continue
		}
		w, err := f.env.MapWindow(uint64(b.addr), uint64(b.size), b.dev)
		if err != nil {
			if !f.refusedOnce {
				f.refusedOnce = true
				f.log.Printf("%s: BAR %d at %#x not mapped: %v", f.name, i, b.addr, err)
			}
			continue
		}
		b.win, b.mappedAt = w, b.addr
		if b.onMap != nil {
			if err := b.onMap(w); err != nil {
				f.log.Printf("%s: BAR %d at %#x: %v", f.name, i, b.addr, err)
			}
		}
	}
}

// Close unmaps the BARs. The function answers in ECAM still, but maps
// nothing more.
func (f *Function) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs *multierror.Error
	for i := range f.bars {
		b := &f.bars[i]
		if b.win != nil {
			errs = multierror.Append(errs, b.win.Close())
			b.win = nil
		}
	}
	return errs.ErrorOrNil()
}

var (
	_ vmm.MMIODevice = (*Function)(nil)
	_ io.Closer      = (*Function)(nil)
)

// BARAccess reads or writes data at off in BAR i, as an access to the
// BAR's window would, wherever (and whether) the BAR is mapped: the
// virtio PCI_CFG capability's window onto the BARs. An access that is
// not wholly inside the BAR reaches nothing (a read gives zeros).
func (f *Function) BARAccess(i int, off uint64, data []byte, write bool) {
	f.mu.Lock()
	var dev vmm.MMIODevice
	if i >= 0 && i < NumBARs {
		b := &f.bars[i]
		if b.size != 0 && off < uint64(b.size) && uint64(len(data)) <= uint64(b.size)-off {
			dev = b.dev
		}
	}
	f.mu.Unlock()
	switch {
	case dev == nil && !write:
		clear(data)
	case dev == nil:
	case write:
		dev.WriteMMIO(off, data)
	default:
		dev.ReadMMIO(off, data)
	}
}
