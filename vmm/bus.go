package vmm

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MMIODevice is a device behind a window of guest-physical address space.
// It only ever sees offsets inside its own window. Accesses come from any
// vcpu goroutine, so implementations synchronise themselves.
type MMIODevice interface {
	// ReadMMIO fills data (1, 2, 4 or 8 bytes, little-endian) from offset.
	ReadMMIO(offset uint64, data []byte)
	// WriteMMIO takes data (1, 2, 4 or 8 bytes, little-endian) at offset.
	WriteMMIO(offset uint64, data []byte)
}

type mmioWindow struct {
	base, size uint64
	name       string
	dev        MMIODevice
	// id tells apart windows mapped while the guest runs, for Unmap.
	id uint64
	// accesses counts the exits the window served (shared by the
	// table's copies).
	accesses *atomic.Uint64
}

func (w *mmioWindow) overlaps(base, size uint64) bool {
	return base < w.base+w.size && w.base < base+size
}

// busTable is the bus's windows at one time, each list sorted by base
// and without overlaps.
type busTable struct {
	windows []mmioWindow
	// background windows claim only what no window in them claims (a
	// PCI host bridge's configuration space, around its functions').
	background []mmioWindow
}

// MMIOBus routes MMIO exits to devices. Windows are registered while the
// machine is built, and mapped and unmapped while it runs (a PCI
// function's BARs, where the guest puts them); lookups take no lock:
// they read the current table, which a change replaces whole.
type MMIOBus struct {
	mu     sync.Mutex // serialises changes
	table  atomic.Pointer[busTable]
	nextID uint64
}

func (b *MMIOBus) current() *busTable {
	if t := b.table.Load(); t != nil {
		return t
	}
	return &busTable{}
}

// Register places dev at [base, base+size). A window overlapping another
// is refused.
func (b *MMIOBus) Register(name string, base, size uint64, dev MMIODevice) error {
	_, err := b.add(mmioWindow{base: base, size: size, name: name, dev: dev}, false)
	return err
}

// RegisterBackground places dev at [base, base+size) behind the ordinary
// windows there: it is reached only by accesses none of them claims. It
// may not overlap another background window.
func (b *MMIOBus) RegisterBackground(name string, base, size uint64, dev MMIODevice) error {
	_, err := b.add(mmioWindow{base: base, size: size, name: name, dev: dev}, true)
	return err
}

// Map places dev at [base, base+size) while the guest runs, as Register
// does, and returns the id that Unmap takes it off by.
func (b *MMIOBus) Map(name string, base, size uint64, dev MMIODevice) (uint64, error) {
	return b.add(mmioWindow{base: base, size: size, name: name, dev: dev}, false)
}

func (b *MMIOBus) add(w mmioWindow, background bool) (uint64, error) {
	if w.size == 0 || w.base+w.size < w.base {
		return 0, fmt.Errorf("MMIO window for %s at %#x+%#x is empty or wraps", w.name, w.base, w.size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.current()
	list := old.windows
	if background {
		list = old.background
	}
	for _, o := range list {
		if o.overlaps(w.base, w.size) {
			return 0, fmt.Errorf("MMIO window for %s at %#x+%#x overlaps %s at %#x+%#x",
				w.name, w.base, w.size, o.name, o.base, o.size)
		}
	}
	b.nextID++
	w.id = b.nextID
	w.accesses = new(atomic.Uint64)
	list = append(slices.Clone(list), w)
	slices.SortFunc(list, func(x, y mmioWindow) int { return cmp.Compare(x.base, y.base) })
	t := *old
	if background {
		t.background = list
	} else {
		t.windows = list
	}
	b.table.Store(&t)
	return w.id, nil
}

// Unmap takes the window Map returned id for off the bus; an access
// already dispatched to it may still reach its device.
func (b *MMIOBus) Unmap(id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := *b.current()
	t.windows = slices.DeleteFunc(slices.Clone(t.windows), func(w mmioWindow) bool { return w.id == id })
	b.table.Store(&t)
}

// find finds the window of ws (sorted, without overlaps) holding [addr,
// addr+n).
func find(ws []mmioWindow, addr uint64, n int) (*mmioWindow, bool) {
	i := sort.Search(len(ws), func(i int) bool {
		return ws[i].base+ws[i].size > addr
	})
	if i == len(ws) {
		return nil, false
	}
	w := &ws[i]
	if addr < w.base || uint64(n) > w.base+w.size-addr {
		return nil, false
	}
	return w, true
}

// lookup finds the window holding [addr, addr+n): an ordinary one, else a
// background one.
func (b *MMIOBus) lookup(addr uint64, n int) (*mmioWindow, bool) {
	t := b.current()
	if w, ok := find(t.windows, addr, n); ok {
		return w, true
	}
	return find(t.background, addr, n)
}

// Dispatch performs one access. It reports false when no device claims the
// whole access; reads then return zeros, as on a bus with nothing behind it.
func (b *MMIOBus) Dispatch(addr uint64, data []byte, isWrite bool) bool {
	w, ok := b.lookup(addr, len(data))
	if !ok {
		if !isWrite {
			clear(data)
		}
		return false
	}
	w.accesses.Add(1)
	if isWrite {
		w.dev.WriteMMIO(addr-w.base, data)
	} else {
		w.dev.ReadMMIO(addr-w.base, data)
	}
	return true
}

// WindowAccesses is how many MMIO exits the windows of one name served.
type WindowAccesses struct {
	Name     string
	Accesses uint64
}

// Accesses lists, for each name of a window on the bus now, how many MMIO
// exits its windows served, most first (names alike, fewest first: a
// stable order); names that served none are left out. A window unmapped
// since takes its count with it.
func (b *MMIOBus) Accesses() []WindowAccesses {
	t := b.current()
	byName := map[string]uint64{}
	for _, list := range [][]mmioWindow{t.windows, t.background} {
		for _, w := range list {
			if n := w.accesses.Load(); n > 0 {
				byName[w.name] += n
			}
		}
	}
	out := make([]WindowAccesses, 0, len(byName))
	for name, n := range byName {
		out = append(out, WindowAccesses{name, n})
	}
	slices.SortFunc(out, func(x, y WindowAccesses) int {
		return cmp.Or(cmp.Compare(y.Accesses, x.Accesses), strings.Compare(x.Name, y.Name))
	})
	return out
}
