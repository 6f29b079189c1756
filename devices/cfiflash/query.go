package cfiflash

// The CFI query table (JESD68-01) of kvmtool's flash, by byte address on
// one chip: what a guest reads, at bus address 4*N, after Read Query.
// The geometry fields that depend on the size are filled in by query.
var queryTable = [...]byte{
	// Query identification string.
	0x10: 'Q', 'R', 'Y',
	0x13: 0x01, 0x00, // primary command set: Intel/Sharp extended
	0x15: 0x31, 0x00, // primary extended query table at 0x31
	0x17: 0x00, 0x00, // no alternate command set
	0x19: 0x00, 0x00, // nor its table
	// System interface.
	0x1b: 0x45, // Vcc min 4.5 V
	0x1c: 0x55, // Vcc max 5.5 V
	0x1d: 0x00, // no Vpp
	0x1e: 0x00,
	0x1f: 0x01, // typical word program: 2 us
	0x20: 0x01, // typical buffer program: 2 us
	0x21: 0x01, // typical block erase: 2 ms
	0x22: 0x00, // no chip erase
	0x23: 0x00, // maximum timeouts: 1x the typical
	0x24: 0x00,
	0x25: 0x00,
	0x26: 0x00,
	// Geometry.
	0x27: 0x00,       // size, 2^n bytes per chip (query)
	0x28: 0x05, 0x00, // interface: x16 and x32
	0x2a: log2Buffer, 0x00,
	0x2c: 0x01,                   // one erase block region
	0x2d: 0x00, 0x00, 0x00, 0x00, // its blocks and their size (query)
	// Intel primary algorithm extended query table.
	0x31: 'P', 'R', 'I',
	0x34: '1', '0', // version 1.0
	0x36: 0xa0, 0x00, 0x00, 0x00, // instant individual block locking, page-mode read
	0x3a: 0x00,       // nothing after suspend
	0x3b: 0x01, 0x00, // block status: lock bit only
	0x3d: 0x50, // best Vcc 5.0 V
	0x3e: 0x00, // no Vpp
	0x3f: 0x01, // one protection register field
	0x40: 0x00, 0x00, 0x00, 0x00,
}

// log2Buffer is the write buffer's size per chip, as a power of two.
const log2Buffer = 6 // 64 bytes: bufferSize over 2 chips

// query is byte addr of the query table of a flash of size bytes; 0
// beyond the table.
func query(addr uint64, size int) byte {
	blocks := size/BlockSize - 1 // the field counts blocks minus one
	perChip := BlockSize / chips / 256
	switch addr {
	case 0x27:
		return log2(size / chips)
	case 0x2d:
		return byte(blocks)
	case 0x2e:
		return byte(blocks >> 8)
	case 0x2f:
		return byte(perChip)
	case 0x30:
		return byte(perChip >> 8)
	}
	if addr >= uint64(len(queryTable)) {
		return 0
	}
	return queryTable[addr]
}
