package cfiflash

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzGuest drives the flash as a hostile guest: any sequence of reads
// and writes of any width at any offset. Whatever it does, the array
// changes only as a flash's can (bits cleared by a program, or a whole
// unlocked block erased to 0xFF), a locked block not at all, the array
// is mapped into the guest exactly in read-array mode, array reads
// return the array, and nothing panics or reaches past the array.
func FuzzGuest(f *testing.F) {
	op := func(write bool, width byte, off uint32, v uint32) []byte {
		b := make([]byte, 9)
		if write {
			b[0] = 1
		}
		b[1] = width
		binary.LittleEndian.PutUint32(b[2:], off)
		binary.LittleEndian.PutUint32(b[5:], v)
		return b[:9]
	}
	seq := func(ops ...[]byte) []byte { return bytes.Join(ops, nil) }
	f.Add(seq(op(true, 2, 0x220, both(cmdReadQuery)), op(false, 2, 0x40, 0)))
	f.Add(seq(op(true, 2, 0, both(cmdWordProgram)), op(true, 2, 0x100, 0x12345678), op(true, 2, 0, both(cmdReadArray))))
	f.Add(seq(op(true, 2, 0x10000, both(cmdBufferedProgram)), op(true, 2, 0, both(31)), op(true, 2, 0x10000, 0), op(true, 0, 0x10004, 0), op(true, 2, 0, both(cmdConfirm))))
	f.Add(seq(op(true, 2, 0x10000, both(cmdLockSetup)), op(true, 2, 0x10000, both(cmdLockBlock)), op(true, 2, 0x10000, both(cmdEraseSetup)), op(true, 2, 0x10000, both(cmdConfirm))))
	f.Add(seq(op(true, 2, 0x1fffc, both(cmdEraseSetup)), op(true, 2, 0x1fffc, both(cmdConfirm)), op(false, 4, 0x1fffc, 0)))
	widths := []int{1, 2, 4, 8, 3, 0}
	f.Fuzz(func(t *testing.T, ops []byte) {
		const size = 2 * BlockSize
		fl, w := newFlash(t, size)
		before := make([]byte, size)
		erased := bytes.Repeat([]byte{0xff}, BlockSize)
		// Start from a mix of programmed and erased bytes.
		for i := range fl.mem {
			fl.mem[i] = byte(i * 7)
		}
		for len(ops) >= 9 {
			write := ops[0]&1 == 1
			n := widths[int(ops[1])%len(widths)]
			off := uint64(binary.LittleEndian.Uint32(ops[2:])) % (size + 16)
			var data [8]byte
			copy(data[:], ops[5:9])
			ops = ops[9:]

			copy(before, fl.mem)
			locked := append([]bool(nil), fl.locked...)
			if write {
				fl.WriteMMIO(off, data[:n])
			} else {
				fl.ReadMMIO(off, data[:n])
				if fl.mode == readArray && off+uint64(n) <= size && !bytes.Equal(data[:n], fl.mem[off:off+uint64(n)]) {
					t.Fatalf("an array read at %#x gave % x, the array holds % x", off, data[:n], fl.mem[off:off+uint64(n)])
				}
			}
			if w.mapped != (fl.mode == readArray) {
				t.Fatalf("mapped %v in mode %s", w.mapped, fl.mode)
			}
			if fl.bufLen > bufferSize || fl.bufEnd > bufferSize {
				t.Fatalf("write buffer of %d bytes, %d used", fl.bufLen, fl.bufEnd)
			}
			for b := 0; b < size/BlockSize; b++ {
				old, now := before[b*BlockSize:(b+1)*BlockSize], fl.mem[b*BlockSize:(b+1)*BlockSize]
				if bytes.Equal(old, now) {
					continue
				}
				if !write || locked[b] {
					t.Fatalf("block %d changed by a read, or while locked", b)
				}
				if bytes.Equal(now, erased) {
					continue // erased
				}
				for i := range now {
					if now[i]&^old[i] != 0 {
						t.Fatalf("byte %#x went from %#x to %#x: a program set bits", b*BlockSize+i, old[i], now[i])
					}
				}
			}
		}
	})
}
