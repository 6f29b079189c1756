package cfiflash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// window stands in for the machine's read-only mapping of the device's
// window: it records whether the array is mapped, and can refuse.
type window struct {
	mapped      bool
	maps, unmap int
	refuse      error
	faults      []error
}

func (w *window) env() vmm.DeviceEnv {
	return vmm.DeviceEnv{
		Name: "cfi-flash",
		MapReadOnly: func(mem []byte) error {
			if w.refuse != nil {
				return w.refuse
			}
			w.mapped = true
			w.maps++
			return nil
		},
		UnmapReadOnly: func() error { w.mapped = false; w.unmap++; return nil },
		Fault:         func(err error) { w.faults = append(w.faults, err) },
	}
}

// newFlash is a flash of size bytes of erased (0xFF) array.
func newFlash(t testing.TB, size int) (*Flash, *window) {
	t.Helper()
	mem := bytes.Repeat([]byte{0xff}, size)
	w := &window{}
	f, err := New(mem, w.env())
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

// Bus accesses, as the guest makes them: 32-bit unless said.
func wr32(f *Flash, off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	f.WriteMMIO(off, b[:])
}

func rd32(f *Flash, off uint64) uint32 {
	var b [4]byte
	f.ReadMMIO(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// both is a command or value for both chips of the 32-bit bus.
func both(v uint16) uint32 { return uint32(v) | uint32(v)<<16 }

// The query table a driver probes (EDK2 and Linux's cfi_probe): "QRY",
// the command set, the size and the block geometry, each in both halves
// of the bus; the array is unmapped meanwhile and mapped again on Read
// Array.
func TestQuery(t *testing.T) {
	const size = 4 << 20
	f, w := newFlash(t, size)
	if !w.mapped {
		t.Fatalf("a new flash is in read-array mode but not mapped into the guest")
	}
	wr32(f, 0x55*busWidth, both(cmdReadQuery))
	if w.mapped {
		t.Fatalf("still mapped in query mode: the guest would read the array")
	}
	for _, c := range []struct {
		addr uint64
		want uint16
	}{
		{0x10, 'Q'}, {0x11, 'R'}, {0x12, 'Y'}, {0x13, 0x01}, {0x15, 0x31},
		{0x27, 21},            // 2 MiB per chip
		{0x2a, 6},             // 64-byte buffer per chip
		{0x2c, 1},             // one region
		{0x2d, 63}, {0x2e, 0}, // 64 blocks
		{0x2f, 0x80}, {0x30, 0}, // of 32 KiB per chip
		{0x31, 'P'}, {0x32, 'R'}, {0x33, 'I'},
		{0x44, 0}, {0x10000, 0}, // beyond the table
	} {
		if got := rd32(f, c.addr*busWidth); got != both(c.want) {
			t.Errorf("query byte %#x: %#08x, want %#08x", c.addr, got, both(c.want))
		}
	}
	var b [2]byte
	f.ReadMMIO(0x10*busWidth, b[:])
	if b != [2]byte{'Q', 0} {
		t.Errorf("a 16-bit read of 'Q': % x", b)
	}
	wr32(f, 0, both(cmdReadArray))
	if !w.mapped || rd32(f, 0) != 0xffffffff {
		t.Errorf("after Read Array: mapped %v, array %#x", w.mapped, rd32(f, 0))
	}
}

func TestWordProgram(t *testing.T) {
	f, w := newFlash(t, BlockSize*2)
	wr32(f, 0x100, both(cmdWordProgram))
	if w.mapped {
		t.Fatalf("mapped while programming")
	}
	wr32(f, 0x100, 0x12345678)
	if got := rd32(f, 0x200); got != both(statusReady) {
		t.Errorf("status after a program: %#x, want ready in both chips", got)
	}
	// Programming clears bits and never sets one: 0x0f over 0x78 is 0x08.
	wr32(f, 0, both(cmdWordProgram))
	f.WriteMMIO(0x100, []byte{0x0f})
	wr32(f, 0, both(cmdReadArray))
	if got := binary.LittleEndian.Uint32(f.mem[0x100:]); got != 0x12345608 {
		t.Errorf("array %#08x after programming 0x12345678 then 0x0f, want 0x12345608", got)
	}
	if !w.mapped {
		t.Errorf("not mapped again after Read Array")
	}
}

// Buffered program as EDK2's NorFlashDxe drives it: 0xE8, the count of
// 32-bit words minus one (for each chip), the words, 0xD0.
func TestBufferedProgram(t *testing.T) {
	f, _ := newFlash(t, BlockSize*4)
	const base = BlockSize + 0x80
	wr32(f, base, both(cmdBufferedProgram))
	if got := rd32(f, base); got&0xff != statusReady {
		t.Fatalf("status after 0xE8: %#x", got)
	}
	wr32(f, base, both(31)) // 32 words
	for i := uint64(0); i < 32; i++ {
		wr32(f, base+4*i, uint32(i)*0x01010101)
	}
	if f.mem[base+4] != 0xff {
		t.Fatalf("the array changed before the confirm")
	}
	wr32(f, base, both(cmdConfirm))
	wr32(f, 0, both(cmdReadArray))
	for i := uint64(0); i < 32; i++ {
		if got := binary.LittleEndian.Uint32(f.mem[base+4*i:]); got != uint32(i)*0x01010101 {
			t.Fatalf("word %d: %#x", i, got)
		}
	}
	if f.mem[base-1] != 0xff || f.mem[base+128] != 0xff {
		t.Errorf("bytes around the buffer changed")
	}
}

func TestEraseAndLock(t *testing.T) {
	f, _ := newFlash(t, BlockSize*4)
	clear(f.mem)
	// Erase takes the block of any address in it, whole.
	wr32(f, 2*BlockSize+0x1234, both(cmdEraseSetup))
	wr32(f, 2*BlockSize+0x1234, both(cmdConfirm))
	if !bytes.Equal(f.mem[2*BlockSize:3*BlockSize], bytes.Repeat([]byte{0xff}, BlockSize)) || f.mem[2*BlockSize-1] != 0 || f.mem[3*BlockSize] != 0 {
		t.Fatalf("erase did not take exactly block 2")
	}
	// Lock block 1: erase and program fail with the lock bits set.
	wr32(f, BlockSize, both(cmdLockSetup))
	wr32(f, BlockSize, both(cmdLockBlock))
	wr32(f, BlockSize, both(cmdReadID))
	if got := rd32(f, BlockSize+2*busWidth); got != both(1) {
		t.Errorf("block 1's lock bit reads %#x", got)
	}
	if got := rd32(f, 2*busWidth); got != 0 {
		t.Errorf("block 0's lock bit reads %#x", got)
	}
	wr32(f, BlockSize, both(cmdEraseSetup))
	wr32(f, BlockSize+8, both(cmdConfirm))
	if got := rd32(f, 0); got&0xff != statusReady|statusLockError || f.mem[BlockSize] != 0 {
		t.Errorf("erase of a locked block: status %#x, array %#x", got, f.mem[BlockSize])
	}
	// A program starting in block 0 that ends in locked block 1.
	wr32(f, 0, both(cmdClearStatus))
	wr32(f, 0, both(cmdWordProgram))
	wr32(f, BlockSize-2, 0)
	if got := rd32(f, 0); got&0xff != statusReady|statusLockError {
		t.Errorf("a program into a locked block: status %#x", got)
	}
	wr32(f, 0, both(cmdLockSetup))
	wr32(f, BlockSize, both(cmdConfirm)) // unlock
	wr32(f, BlockSize, both(cmdEraseSetup))
	wr32(f, BlockSize, both(cmdConfirm))
	if f.mem[BlockSize] != 0xff {
		t.Errorf("an unlocked block did not erase")
	}
}

// A sequence broken off is an error in the status register, changes
// nothing, and Clear Status clears it.
func TestSequenceErrors(t *testing.T) {
	f, _ := newFlash(t, BlockSize)
	clear(f.mem)
	wr32(f, 0, both(cmdEraseSetup))
	wr32(f, 0, both(cmdReadArray))
	if got := rd32(f, 0); got&0xff != statusReady|statusSequenceError {
		t.Errorf("erase setup then 0xFF: status %#x", got)
	}
	if f.mem[0] != 0 {
		t.Errorf("an unconfirmed erase erased")
	}
	wr32(f, 0, both(cmdClearStatus))
	if got := rd32(f, 0); got != both(statusReady) {
		t.Errorf("after Clear Status: %#x", got)
	}
	wr32(f, 0, both(cmdBufferedProgram))
	wr32(f, 0, both(0))    // one word
	wr32(f, 0, 0x0f0f0f0f) // the word
	wr32(f, 0, 0x12345678) // not a confirm
	if got := rd32(f, 0); got&0xff != statusReady|statusProgramError || f.mem[0] != 0 {
		t.Errorf("a buffer not confirmed: status %#x, array %#x", got, f.mem[0])
	}
}

// Writes in the ready state are commands, whatever their value: they
// never reach the array (the next write of a program sequence is data,
// so each command's sequence is abandoned here). Nor do writes wider
// than the bus, or outside it.
func TestWritesAreCommands(t *testing.T) {
	f, _ := newFlash(t, BlockSize)
	clear(f.mem[:BlockSize/2])
	before := bytes.Clone(f.mem)
	for v := uint32(0); v < 0x100; v++ {
		wr32(f, uint64(v)*4, both(uint16(v)))
		f.state = ready
	}
	f.WriteMMIO(0, []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.WriteMMIO(BlockSize-2, []byte{0, 0, 0, 0})
	f.WriteMMIO(BlockSize, []byte{0})
	if !bytes.Equal(before, f.mem) {
		t.Errorf("commands changed the array")
	}
}

// A hostile driver: buffer counts beyond the buffer, data far from the
// buffer's start or crossing its end, programs and erases at the last
// bytes, reads of every width in every mode at the edges. Nothing may
// reach beyond the array or panic.
func TestHostileSequences(t *testing.T) {
	f, _ := newFlash(t, BlockSize)
	clear(f.mem)
	end := uint64(BlockSize)
	wr32(f, end-4, both(cmdBufferedProgram))
	wr32(f, 0, 0xffffffff) // 65536 words: capped at the 128-byte buffer
	if f.bufLen != bufferSize {
		t.Errorf("buffer length %d after a count of 65536 words", f.bufLen)
	}
	wr32(f, end-4, 0) // the buffer starts 4 bytes before the end
	f.WriteMMIO(end-1, []byte{0})
	wr32(f, end-4+bufferSize, 0) // outside the array: dropped
	wr32(f, 0, both(cmdConfirm)) // below the buffer: the confirm
	if got := rd32(f, 0) & 0xff; got != statusReady {
		t.Errorf("status %#x", got)
	}
	for _, cmd := range []uint16{cmdReadArray, cmdReadStatus, cmdReadID, cmdReadQuery} {
		wr32(f, 0, both(cmd))
		for _, n := range []int{1, 2, 3, 4, 8} {
			b := make([]byte, n)
			f.ReadMMIO(end-uint64(n), b)
			f.ReadMMIO(end-1, b) // crossing the end: zeros
			if n > 1 && !bytes.Equal(b, make([]byte, n)) {
				t.Errorf("a %d-byte read across the end in mode %#x: % x", n, cmd, b)
			}
		}
	}
	wr32(f, 0, both(cmdEraseSetup))
	wr32(f, end-4, both(cmdConfirm))
	if f.mem[0] != 0xff || f.mem[end-1] != 0xff {
		t.Errorf("erase at the last word did not erase the last block")
	}
}

// Where the host cannot map the array, reads exit and are served from
// the array; a failed unmap is gokvm's fault, reported.
func TestMappingFailures(t *testing.T) {
	mem := bytes.Repeat([]byte{0xab}, BlockSize)
	w := &window{refuse: errors.New("no KVM_CAP_READONLY_MEM")}
	f, err := New(mem, w.env())
	if err != nil {
		t.Fatal(err)
	}
	if w.mapped || rd32(f, 8) != 0xabababab {
		t.Errorf("mapped %v, array read %#x", w.mapped, rd32(f, 8))
	}
	wr32(f, 0, both(cmdReadStatus))
	wr32(f, 0, both(cmdReadArray))
	if w.maps != 0 || rd32(f, 8) != 0xabababab {
		t.Errorf("mapping tried again after it failed, or the array reads %#x", rd32(f, 8))
	}
	env := w.env()
	env.MapReadOnly = func([]byte) error { return nil }
	env.UnmapReadOnly = func() error { return errors.New("EINVAL") }
	f, _ = New(mem, env)
	wr32(f, 0, both(cmdReadStatus))
	if len(w.faults) != 1 || !strings.Contains(w.faults[0].Error(), "status read") {
		t.Errorf("faults %v, want the failed unmap reported", w.faults)
	}
}

func TestSizes(t *testing.T) {
	for _, n := range []int{0, BlockSize - 1, BlockSize + 4096, 3 * BlockSize, 2 * MaxSize} {
		if _, err := New(make([]byte, n), (&window{}).env()); err == nil {
			t.Errorf("a flash of %d bytes", n)
		}
	}
	f, w := newFlash(t, BlockSize)
	if err := f.Close(); err != nil || w.mapped {
		t.Errorf("Close left the array mapped (%v)", err)
	}
}

// Vcpus drive the flash at once: their accesses are serialised, and the
// mapping always follows the mode (run under the race detector).
func TestConcurrentVcpus(t *testing.T) {
	f, w := newFlash(t, 2*BlockSize)
	cmds := []uint16{cmdReadArray, cmdReadStatus, cmdReadQuery, cmdWordProgram, cmdEraseSetup, cmdConfirm, cmdBufferedProgram, 3, cmdClearStatus}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				off := uint64((i*7919 + g*4099) % (2 * BlockSize) &^ 3)
				if i%3 == 0 {
					rd32(f, off)
				} else {
					wr32(f, off, both(cmds[(i+g)%len(cmds)]))
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.mapped != (f.mode == readArray) {
		t.Errorf("mapped %v in mode %s", w.mapped, f.mode)
	}
}
