package pci

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/gokvm/gokvm/vmm"
)

// MaxMSIXVectors bounds a function's MSI-X table (PCI allows 2048).
const MaxMSIXVectors = 256

// msixEntrySize is one MSI-X table entry: message address (low, high),
// data, vector control.
const msixEntrySize = 16

// MSIX is a function's MSI-X capability, table and pending bits (PCI
// Local Bus 3.0, 6.8.2). The guest programs each vector's message in the
// table; the device signals a vector (Signal), which sends the message
// unless the vector or the whole function is masked, and is left
// pending then, to be sent when unmasked. A message is routed to the
// interrupt controller the first time it is sent after the guest changed
// it; one that reaches no MSI controller (a hostile table) sends
// nothing.
type MSIX struct {
	f      *Function
	name   string
	capOff int
	pbaOff uint64
	size   uint32 // the table and PBA's BAR

	mu      sync.Mutex
	entries []msixEntry
	pending []uint64 // the PBA
	enabled bool     // MSI-X Enable
	maskAll bool     // Function Mask
	vectors []vmm.MSI
	// badOnce: a message that could not be routed was logged.
	badOnce bool
}

type msixEntry struct {
	addr   uint64
	data   uint32
	masked bool
	// dirty: the message changed since it was last routed.
	dirty bool
	// unroutable is why the last routed message reaches nothing.
	unroutable error
}

// AddMSIX gives f an MSI-X capability with n vectors, its table and
// pending bits in memory BAR barIndex (table first, then the PBA), each
// vector an MSI of the machine (vmm.DeviceEnv.NewMSI). It fails with
// vmm.ErrUnsupported on a machine without an MSI controller: the
// function then has its INTx pin only, as a driver finds it.
func (f *Function) AddMSIX(n int, barIndex int) (*MSIX, error) {
	if n < 1 || n > MaxMSIXVectors {
		return nil, fmt.Errorf("%d MSI-X vectors: want 1 to %d", n, MaxMSIXVectors)
	}
	if f.env.NewMSI == nil {
		return nil, vmm.ErrUnsupported
	}
	m := &MSIX{f: f, name: f.name, entries: make([]msixEntry, n), pending: make([]uint64, (n+63)/64)}
	for i := range m.entries {
		m.entries[i].masked, m.entries[i].dirty = true, true
		v, err := f.env.NewMSI()
		if err != nil {
			return nil, err
		}
		m.vectors = append(m.vectors, v)
	}
	m.pbaOff = uint64(n*msixEntrySize+7) &^ 7
	m.size = minBARSize
	for uint64(m.size) < m.pbaOff+uint64(len(m.pending))*8 {
		m.size *= 2
	}
	if err := f.AddBAR(barIndex, m.size, m, nil); err != nil {
		return nil, err
	}
	body := make([]byte, 10)
	binary.LittleEndian.PutUint16(body[0:], uint16(n-1))
	binary.LittleEndian.PutUint32(body[2:], uint32(barIndex))                  // table at offset 0
	binary.LittleEndian.PutUint32(body[6:], uint32(m.pbaOff)|uint32(barIndex)) // the PBA after it
	writable := []byte{0, byte(msixControlWritable >> 8)}
	off, err := f.AddCapability(capIDMSIX, body, writable)
	if err != nil {
		return nil, err
	}
	m.capOff = off
	f.mu.Lock()
	f.msix = m
	f.mu.Unlock()
	return m, nil
}

// Enabled reports whether the guest enabled MSI-X: the device then
// signals vectors, and not its INTx pin.
func (m *MSIX) Enabled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.enabled
}

// Vectors is the table's size.
func (m *MSIX) Vectors() int { return len(m.entries) }

// Signal sends vector v's message, or leaves it pending while the vector
// or the function is masked. Nothing is sent while MSI-X is disabled, or
// for a vector the table does not have.
func (m *MSIX) Signal(v int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v < 0 || v >= len(m.entries) || !m.enabled {
		return
	}
	if m.maskAll || m.entries[v].masked {
		m.pending[v/64] |= 1 << (v % 64)
		return
	}
	m.sendLocked(v)
}

// sendLocked sends vector v's message, routing it first if the guest
// changed it; m.mu is held.
func (m *MSIX) sendLocked(v int) {
	e := &m.entries[v]
	if e.dirty {
		e.dirty = false
		e.unroutable = m.vectors[v].Route(e.addr, e.data)
	}
	if e.unroutable != nil {
		if !m.badOnce {
			m.badOnce = true
			m.f.log.Printf("%s: MSI-X vector %d sends nothing: %v", m.name, v, e.unroutable)
		}
		return
	}
	if err := m.vectors[v].Signal(); err != nil {
		m.f.log.Printf("%s: MSI-X vector %d: %v", m.name, v, err)
	}
}

// sendPendingLocked sends what is pending on the vectors that may send
// now; m.mu is held.
func (m *MSIX) sendPendingLocked() {
	if !m.enabled || m.maskAll {
		return
	}
	for v := range m.entries {
		if m.pending[v/64]&(1<<(v%64)) != 0 && !m.entries[v].masked {
			m.pending[v/64] &^= 1 << (v % 64)
			m.sendLocked(v)
		}
	}
}

// setControl takes the guest's Message Control (enable, function mask);
// the function's lock is held.
func (m *MSIX) setControl(ctrl uint16) {
	m.mu.Lock()
	m.enabled = ctrl&msixControlEnable != 0
	m.maskAll = ctrl&msixControlMaskAll != 0
	m.sendPendingLocked()
	enabled := m.enabled
	m.mu.Unlock()
	m.f.irq.setMSIX(enabled)
}

// ReadMMIO implements vmm.MMIODevice: the table and the PBA, in 32- or
// 64-bit aligned accesses; anything else reads as zero.
func (m *MSIX) ReadMMIO(off uint64, data []byte) {
	clear(data)
	if !aligned(off, len(data)) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < len(data); i += 4 {
		binary.LittleEndian.PutUint32(data[i:], m.readDword(off+uint64(i)))
	}
}

// WriteMMIO implements vmm.MMIODevice: the table's entries; the PBA is
// read-only.
func (m *MSIX) WriteMMIO(off uint64, data []byte) {
	if !aligned(off, len(data)) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < len(data); i += 4 {
		m.writeDword(off+uint64(i), binary.LittleEndian.Uint32(data[i:]))
	}
}

// aligned: MSI-X accesses are dwords or qwords, naturally aligned.
func aligned(off uint64, n int) bool {
	return (n == 4 || n == 8) && off%uint64(n) == 0
}

// readDword reads the table or PBA dword at off; m.mu is held.
func (m *MSIX) readDword(off uint64) uint32 {
	if off < uint64(len(m.entries))*msixEntrySize {
		e := &m.entries[off/msixEntrySize]
		switch off % msixEntrySize {
		case 0:
			return uint32(e.addr)
		case 4:
			return uint32(e.addr >> 32)
		case 8:
			return e.data
		default:
			return b2u(e.masked)
		}
	}
	if off >= m.pbaOff && off-m.pbaOff < uint64(len(m.pending))*8 {
		q := m.pending[(off-m.pbaOff)/8]
		return uint32(q >> (8 * ((off - m.pbaOff) % 8)))
	}
	return 0
}

// writeDword writes the table dword at off; m.mu is held.
func (m *MSIX) writeDword(off uint64, v uint32) {
	if off >= uint64(len(m.entries))*msixEntrySize {
		return // the PBA, and beyond
	}
	i := int(off / msixEntrySize)
	e := &m.entries[i]
	switch off % msixEntrySize {
	case 0:
		e.addr = e.addr&^0xffffffff | uint64(v&^3) // dword-aligned
		e.dirty = true
	case 4:
		e.addr = e.addr&0xffffffff | uint64(v)<<32
		e.dirty = true
	case 8:
		e.data = v
		e.dirty = true
	default:
		e.masked = v&1 != 0
		if !e.masked {
			m.sendPendingLocked()
		}
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
