package vmm

import (
	"fmt"
	"sort"
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
}

// MMIOBus routes MMIO exits to devices. Windows are registered while the
// machine is built; once vcpus run the bus is read-only, so lookups take no
// lock.
type MMIOBus struct {
	windows []mmioWindow
}

// Register places dev at [base, base+size). Overlapping windows are refused.
func (b *MMIOBus) Register(name string, base, size uint64, dev MMIODevice) error {
	if size == 0 || base+size < base {
		return fmt.Errorf("MMIO window for %s at %#x+%#x is empty or wraps", name, base, size)
	}
	for _, w := range b.windows {
		if base < w.base+w.size && w.base < base+size {
			return fmt.Errorf("MMIO window for %s at %#x+%#x overlaps %s at %#x+%#x",
				name, base, size, w.name, w.base, w.size)
		}
	}
	b.windows = append(b.windows, mmioWindow{base: base, size: size, name: name, dev: dev})
	sort.Slice(b.windows, func(i, j int) bool { return b.windows[i].base < b.windows[j].base })
	return nil
}

// lookup finds the window holding [addr, addr+n).
func (b *MMIOBus) lookup(addr uint64, n int) (*mmioWindow, bool) {
	i := sort.Search(len(b.windows), func(i int) bool {
		return b.windows[i].base+b.windows[i].size > addr
	})
	if i == len(b.windows) {
		return nil, false
	}
	w := &b.windows[i]
	if addr < w.base || uint64(n) > w.base+w.size-addr {
		return nil, false
	}
	return w, true
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
	if isWrite {
		w.dev.WriteMMIO(addr-w.base, data)
	} else {
		w.dev.ReadMMIO(addr-w.base, data)
	}
	return true
}
