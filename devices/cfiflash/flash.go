// Package cfiflash is a CFI NOR flash as kvmtool's hw/cfi_flash.c
// emulates one for ARM guests (--flash): the Intel/Sharp command set
// (CFI primary command set 1) on two 16-bit chips side by side on a
// 32-bit bus, 64 KiB erase blocks, a 128-byte write buffer, per-block
// lock bits. EDK2 keeps its UEFI variables in it (ArmVirtKvmTool's
// NorFlashKvmtoolLib looks for a "cfi-flash" node labelled
// "System-firmware").
//
// What the guest writes reaches the backing memory (the file, mapped
// shared) only as it would reach a real flash's array: through program
// commands, which can only clear bits, and block erase, which sets a whole
// 64 KiB block to 0xFF; any other write is a command. In read-array mode
// the array is mapped into the guest read-only (vmm.DeviceEnv.MapReadOnly),
// so loads, including ones KVM could not decode from an MMIO exit (ldp),
// and instruction fetches need no exit; any command that changes the
// read mode unmaps it, and status, identifier and query reads come here.
package cfiflash

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/gokvm/gokvm/vmm"
)

const (
	// BlockSize is an erase block as the guest sees it (both chips):
	// kvmtool's, which EDK2's NorFlashKvmtoolLib assumes.
	BlockSize = 64 << 10
	// MaxSize is kvmtool's largest flash (KVM_FLASH_MAX_SIZE), the size
	// of its window in the memory map.
	MaxSize = 16 << 20

	chips      = 2   // 16-bit chips side by side
	busWidth   = 4   // bytes; CFI byte addresses are bus-width multiples
	bufferSize = 128 // the write buffer, both chips
)

// Commands of the Intel/Sharp command set.
const (
	cmdLockBlock       = 0x01
	cmdAltWordProgram  = 0x10
	cmdEraseSetup      = 0x20
	cmdWordProgram     = 0x40
	cmdClearStatus     = 0x50
	cmdLockSetup       = 0x60
	cmdReadStatus      = 0x70
	cmdReadID          = 0x90
	cmdReadQuery       = 0x98
	cmdConfirm         = 0xd0
	cmdBufferedProgram = 0xe8
	cmdReadArray       = 0xff
)

// Status register bits; errors stay set until Clear Status.
const (
	statusProtect      = 0x02
	statusProgramError = 0x10
	statusEraseError   = 0x20
	statusReady        = 0x80

	statusLockError     = statusProgramError | statusProtect
	statusSequenceError = statusEraseError | statusProgramError
)

// state is where a multi-write command sequence is.
type state int

const (
	ready       state = iota // the next write is a command
	lockSetup                // then 0x01 (lock) or 0xD0 (unlock) at the block
	wordProgram              // then the data to program
	bufferCount              // then the buffer's length in bus words, minus one
	bufferFill               // then the data, then 0xD0
	eraseSetup               // then 0xD0 at the block
)

// readMode is what a read returns.
type readMode int

const (
	readArray  readMode = iota // the array (mapped into the guest)
	readStatus                 // the status register
	readID                     // identifier codes and block lock bits
	readQuery                  // the CFI query table
)

// Flash is the device. Accesses come from any vcpu; one lock serialises
// them and the switching of the guest's mapping.
type Flash struct {
	mem []byte
	env vmm.DeviceEnv

	mu       sync.Mutex
	state    state
	mode     readMode
	status   byte
	locked   []bool // per block
	mapped   bool   // the array is mapped into the guest
	noDirect bool   // mapping failed once: reads stay MMIO exits

	buf      [bufferSize]byte
	bufBase  uint64 // flash offset of buf[0], set by the first data write
	bufSet   bool
	bufLen   uint32 // bytes the guest announced
	bufCount uint32 // bytes written so far
	bufEnd   uint32 // one past the highest buffer byte written
}

var _ vmm.MMIODevice = (*Flash)(nil)

// CheckSize says whether a flash can be size bytes: a power of two, from
// one erase block to MaxSize.
func CheckSize(size int) error {
	if size < BlockSize || size > MaxSize || size&(size-1) != 0 {
		return fmt.Errorf("a flash of %d bytes: want a power of two from %d KiB to %d MiB", size, BlockSize>>10, MaxSize>>20)
	}
	return nil
}

// New makes a flash whose array is mem, in read-array mode, and maps mem
// into the guest through env.
func New(mem []byte, env vmm.DeviceEnv) (*Flash, error) {
	if err := CheckSize(len(mem)); err != nil {
		return nil, err
	}
	f := &Flash{mem: mem, env: env, status: statusReady, locked: make([]bool, len(mem)/BlockSize)}
	f.mu.Lock()
	f.syncMapping()
	f.mu.Unlock()
	return f, nil
}

// ReadMMIO implements vmm.MMIODevice: the array, or in the other modes a
// 16-bit value from each chip.
func (f *Flash) ReadMMIO(off uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.inside(off, len(data)) {
		clear(data)
		return
	}
	var v uint16
	switch f.mode {
	case readArray:
		copy(data, f.mem[off:])
		return
	case readStatus:
		v = uint16(f.status)
	case readID:
		v = f.id(off)
	case readQuery:
		v = uint16(query(off/busWidth, len(f.mem)))
	}
	clear(data)
	switch len(data) {
	case 1:
		data[0] = byte(v)
	case 2, 4, 8:
		// The chip on the low half, and on a 32-bit access the other
		// one too; 8 bytes are two bus cycles, only the first answered.
		data[0], data[1] = byte(v), byte(v>>8)
		if len(data) >= 4 {
			data[2], data[3] = byte(v), byte(v>>8)
		}
	}
}

// WriteMMIO implements vmm.MMIODevice: a command, or the data of a
// program sequence. A write wider than the 32-bit bus is dropped, as
// kvmtool drops it.
func (f *Flash) WriteMMIO(off uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(data) == 0 || len(data) > busWidth || !f.inside(off, len(data)) {
		return
	}
	var v uint32
	for i, b := range data {
		v |= uint32(b) << (8 * i)
	}
	f.write(off, data, uint16(v))
	f.syncMapping()
}

// inside reports whether n bytes at off are in the array.
func (f *Flash) inside(off uint64, n int) bool {
	return off < uint64(len(f.mem)) && uint64(n) <= uint64(len(f.mem))-off
}

// write advances the command state machine. cmd is the written value's
// low 16 bits (a 32-bit write carries the same command for each chip).
func (f *Flash) write(off uint64, data []byte, cmd uint16) {
	c := byte(cmd)
	switch f.state {
	case ready:
		f.command(c)
	case lockSetup:
		switch c {
		case cmdLockBlock, cmdConfirm:
			f.locked[off/BlockSize] = c == cmdLockBlock
			f.mode = readStatus
		default:
			f.status |= statusSequenceError
		}
		f.state = ready
	case wordProgram:
		f.program(off, data)
		f.mode, f.state = readStatus, ready
	case bufferCount:
		f.bufLen = min((uint32(cmd)+1)*busWidth, bufferSize)
		f.mode, f.state = readStatus, bufferFill
	case bufferFill:
		if f.fill(off, data) {
			return
		}
		if c == cmdConfirm {
			f.confirmBuffer()
		} else {
			f.status |= statusProgramError
		}
		f.mode, f.state = readStatus, ready
	case eraseSetup:
		if c == cmdConfirm {
			f.erase(off)
		} else {
			f.status |= statusSequenceError
		}
		f.mode, f.state = readStatus, ready
	}
}

// command is a write in the ready state: it selects a read mode or
// starts a sequence. The address does not matter.
func (f *Flash) command(c byte) {
	switch c {
	case cmdReadID:
		f.mode = readID
	case cmdReadStatus:
		f.mode = readStatus
	case cmdReadQuery:
		f.mode = readQuery
	case cmdClearStatus:
		f.status = statusReady
	case cmdWordProgram, cmdAltWordProgram:
		f.mode, f.state = readStatus, wordProgram
	case cmdLockSetup:
		f.state = lockSetup
	case cmdEraseSetup:
		f.mode, f.state = readStatus, eraseSetup
	case cmdBufferedProgram:
		for i := range f.buf {
			f.buf[i] = 0xff // bytes not written leave the array as it is
		}
		f.bufSet, f.bufLen, f.bufCount, f.bufEnd = false, 0, 0, 0
		f.mode, f.state = readStatus, bufferCount
	case cmdConfirm:
		// A confirm with nothing to confirm: ignored.
	default: // cmdReadArray, and any unknown command
		f.mode = readArray
	}
}

// blockLocked reports whether the block holding off is locked.
func (f *Flash) blockLocked(off uint64) bool { return f.locked[off/BlockSize] }

// program writes data at off as a NOR flash programs: bits go from 1 to
// 0, never back. The caller has checked the range is in the array.
func (f *Flash) program(off uint64, data []byte) {
	if f.blockLocked(off) || f.blockLocked(off+uint64(len(data))-1) {
		f.status |= statusLockError
		return
	}
	for i, b := range data {
		f.mem[off+uint64(i)] &= b
	}
}

// fill takes a data write into the write buffer. It reports false when
// the write is not buffer data: the announced length is reached, or it
// falls outside the buffer's 128 bytes from the first data write; the
// write is then the confirm (or a sequence error).
func (f *Flash) fill(off uint64, data []byte) bool {
	if f.bufCount >= f.bufLen {
		return false
	}
	if !f.bufSet {
		f.bufBase, f.bufSet = off, true
	}
	if off < f.bufBase || off-f.bufBase >= bufferSize || uint64(len(data)) > bufferSize-(off-f.bufBase) {
		return false
	}
	rel := uint32(off - f.bufBase)
	copy(f.buf[rel:], data)
	f.bufCount += uint32(len(data))
	f.bufEnd = max(f.bufEnd, rel+uint32(len(data)))
	return true
}

// confirmBuffer programs what the write buffer holds. Every byte of it
// came from a write inside the array, so the range is in the array.
func (f *Flash) confirmBuffer() {
	if f.bufEnd > 0 {
		f.program(f.bufBase, f.buf[:f.bufEnd])
	}
}

// erase sets the block holding off to 0xFF, unless it is locked.
func (f *Flash) erase(off uint64) {
	if f.blockLocked(off) {
		f.status |= statusLockError
		return
	}
	start := off &^ (BlockSize - 1)
	for i := range f.mem[start : start+BlockSize] {
		f.mem[start+uint64(i)] = 0xff
	}
}

// id answers a read in identifier mode: manufacturer and device codes
// (kvmtool's 0x0000 and 0xFFFF), and the lock bit of the block at off.
func (f *Flash) id(off uint64) uint16 {
	const idMask = 0x7ff
	switch (off & idMask) / busWidth {
	case 0:
		return 0x0000
	case 1:
		return 0xffff
	case 2:
		if f.blockLocked(off &^ idMask) {
			return 1
		}
	}
	return 0
}

// syncMapping maps the array into the guest in read-array mode and
// unmaps it otherwise, so that status and query reads reach the device.
func (f *Flash) syncMapping() {
	want := f.mode == readArray
	switch {
	case want == f.mapped, want && f.noDirect:
	case want:
		if err := f.env.MapReadOnly(f.mem); err != nil {
			// Every read then exits and is served here, but loads KVM
			// cannot decode (ldp) fail the guest.
			f.noDirect = true
			f.logf("cannot map the array into the guest, reads exit to gokvm (%v)", err)
			return
		}
		f.mapped = true
	default:
		if err := f.env.UnmapReadOnly(); err != nil {
			// The guest would read the array where it asked for status:
			// gokvm's failure, not the guest's.
			if f.env.Fault != nil {
				f.env.Fault(fmt.Errorf("unmapping the array for a %s read: %w", f.mode, err))
			}
			return
		}
		f.mapped = false
	}
}

func (f *Flash) logf(format string, args ...any) {
	if f.env.Log != nil {
		f.env.Log.Printf("%s: "+format, append([]any{f.env.Name}, args...)...)
	}
}

// Close takes the array out of the guest, before its memory goes away.
func (f *Flash) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.mapped {
		return nil
	}
	f.mapped = false
	return f.env.UnmapReadOnly()
}

func (m readMode) String() string {
	switch m {
	case readStatus:
		return "status"
	case readID:
		return "identifier"
	case readQuery:
		return "query"
	}
	return "array"
}

// log2 of a power of two.
func log2(v int) byte { return byte(bits.TrailingZeros(uint(v))) }
