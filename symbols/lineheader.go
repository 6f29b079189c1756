package symbols

import (
	"encoding/binary"
	"fmt"
)

// checkLineHeader vets the header of the line program at off in
// .debug_line before debug/dwarf reads it. A DWARF 5 header gives the
// number of its directory and file entries, and debug/dwarf allocates
// that many at once, however large: a count of 2^40 would end the VMM
// with an out-of-memory crash that no recover catches. Here each count
// must be at most the bytes left in the unit (every known entry form
// takes at least one byte), so what is allocated stays within a small
// multiple of the file's size. Older versions list their entries up to a
// NUL, growing as they read, and pass.
func checkLineHeader(b []byte, off int64) error {
	if off < 0 || off >= int64(len(b)) {
		return fmt.Errorf("%w: line program offset %#x outside .debug_line", ErrFormat, off)
	}
	r := &lineBuf{b: b[off:]}
	n, dwarf64 := uint64(r.u32()), false
	if n == 0xffff_ffff {
		n, dwarf64 = r.u64(), true
	}
	if r.bad || n > uint64(len(r.b)) {
		return fmt.Errorf("%w: line program at %#x runs past .debug_line", ErrFormat, off)
	}
	r.b = r.b[:n]
	if r.u16() < 5 {
		return nil
	}
	r.skip(2) // address and segment selector sizes
	if dwarf64 {
		r.skip(8)
	} else {
		r.skip(4)
	}
	r.skip(5) // minimum instruction length ... line range
	r.skip(int(r.u8()) - 1)
	for _, what := range []string{"directory", "file name"} {
		forms := make([]uint64, r.u8())
		for i := range forms {
			r.uleb() // the content type
			forms[i] = r.uleb()
		}
		count := r.uleb()
		if r.bad || count > uint64(len(r.b)) {
			return fmt.Errorf("%w: line program at %#x claims %d %s entries", ErrFormat, off, count, what)
		}
		if len(forms) == 0 {
			continue
		}
		for i := uint64(0); i < count && !r.bad; i++ {
			for _, f := range forms {
				if !r.skipForm(f, dwarf64) {
					return fmt.Errorf("%w: line program at %#x: %s entry form %#x", ErrFormat, off, what, f)
				}
			}
		}
	}
	if r.bad {
		return fmt.Errorf("%w: line program header at %#x is truncated", ErrFormat, off)
	}
	return nil
}

// lineBuf reads little-endian DWARF fields; past the end it reads zeros
// and sets bad.
type lineBuf struct {
	b   []byte
	bad bool
}

func (r *lineBuf) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return make([]byte, 8)
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *lineBuf) skip(n int)  { r.take(n) }
func (r *lineBuf) u8() uint8   { return r.take(1)[0] }
func (r *lineBuf) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *lineBuf) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *lineBuf) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }

func (r *lineBuf) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.u8()
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 || r.bad {
			return v
		}
	}
}

// skipForm skips one value of a form a line header entry may use (the
// forms debug/dwarf reads there); false for any other.
func (r *lineBuf) skipForm(form uint64, dwarf64 bool) bool {
	offSize := 4
	if dwarf64 {
		offSize = 8
	}
	switch form {
	case 0x08: // DW_FORM_string
		for !r.bad && r.u8() != 0 {
		}
	case 0x0e, 0x1f, 0x1d: // strp, line_strp, strp_sup
		r.skip(offSize)
	case 0x1a, 0x0f: // strx, udata
		r.uleb()
	case 0x25, 0x0b: // strx1, data1
		r.skip(1)
	case 0x26, 0x05: // strx2, data2
		r.skip(2)
	case 0x27: // strx3
		r.skip(3)
	case 0x28, 0x06: // strx4, data4
		r.skip(4)
	case 0x07: // data8
		r.skip(8)
	case 0x1e: // data16
		r.skip(16)
	case 0x09: // block
		n := r.uleb()
		if n > uint64(len(r.b)) {
			r.bad = true
			return true
		}
		r.skip(int(n))
	default:
		return false
	}
	return true
}
