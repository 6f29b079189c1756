package arm64

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/gokvm/gokvm/vmm/memory"
)

// flatStack is virtual memory [base, base+len) with nothing else mapped.
type flatStack struct {
	base uint64
	b    []byte
}

var errOutside = errors.New("outside the test stack")

func (s *flatStack) Read(va uint64, p []byte) error {
	if va < s.base || va-s.base > uint64(len(s.b)) || uint64(len(p)) > uint64(len(s.b))-(va-s.base) {
		return errOutside
	}
	copy(p, s.b[va-s.base:])
	return nil
}

// record writes a frame record {next, ret} at fp.
func (s *flatStack) record(fp, next, ret uint64) {
	binary.LittleEndian.PutUint64(s.b[fp-s.base:], next)
	binary.LittleEndian.PutUint64(s.b[fp-s.base+8:], ret)
}

const stackBase = 0xffff_8000_0a00_0000 // 16 KiB aligned

func newStack() *flatStack { return &flatStack{base: stackBase, b: make([]byte, 64<<10)} }

func TestUnwindChain(t *testing.T) {
	s := newStack()
	s.record(stackBase+0x3e00, stackBase+0x3e40, 0xffff_8000_0800_1004)
	s.record(stackBase+0x3e40, stackBase+0x3f00, 0xffff_8000_0800_2008)
	s.record(stackBase+0x3f00, stackBase+0x3fe0, 0xffff_8000_0800_300c)
	s.record(stackBase+0x3fe0, 0, 0) // the final record
	rets, err := Unwind(s, stackBase+0x3e00)
	want := []uint64{0xffff_8000_0800_1004, 0xffff_8000_0800_2008, 0xffff_8000_0800_300c}
	if err != nil || !reflect.DeepEqual(rets, want) {
		t.Errorf("Unwind = %#x, %v; want %#x", rets, err, want)
	}
	// A chain that ends with fp 0 and a return address.
	s.record(stackBase+0x3f00, 0, 0xffff_8000_0800_300c)
	if rets, err := Unwind(s, stackBase+0x3e00); err != nil || !reflect.DeepEqual(rets, want) {
		t.Errorf("Unwind to fp 0 = %#x, %v", rets, err)
	}
	if rets, err := Unwind(s, 0); err != nil || len(rets) != 0 {
		t.Errorf("Unwind(0) = %#x, %v", rets, err)
	}
}

func TestUnwindHostile(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(s *flatStack)
		fp    uint64
		n     int
		want  error
	}{
		{"self loop", func(s *flatStack) { s.record(stackBase+0x100, stackBase+0x100, 1) }, stackBase + 0x100, 1, ErrFrameLoop},
		{"two-record loop", func(s *flatStack) {
			s.record(stackBase+0x100, stackBase+0x200, 1)
			s.record(stackBase+0x200, stackBase+0x100, 2)
		}, stackBase + 0x100, 2, ErrFrameLoop},
		{"downwards", func(s *flatStack) {
			s.record(stackBase+0x200, stackBase+0x1f0, 1)
		}, stackBase + 0x200, 1, ErrFrameLoop},
		{"misaligned start", func(s *flatStack) {}, stackBase + 0x104, 0, ErrFrameMisaligned},
		{"misaligned link", func(s *flatStack) { s.record(stackBase+0x100, stackBase+0x203, 1) }, stackBase + 0x100, 1, ErrFrameMisaligned},
		{"outside", func(s *flatStack) { s.record(stackBase+0x100, 0xffff_0000_0000_0000, 1) }, stackBase + 0x100, 1, errOutside},
		{"last word outside", func(s *flatStack) {}, stackBase + 64<<10 - 8, 0, errOutside},
		{"deep", func(s *flatStack) {
			for fp := uint64(stackBase); fp < stackBase+0x1000; fp += 16 {
				s.record(fp, fp+16, fp)
			}
		}, stackBase, MaxUnwindDepth, ErrFrameDepth},
		{"back to a stack left", func(s *flatStack) {
			// IRQ stack (window 2) -> task stack (window 0) -> IRQ stack.
			s.record(stackBase+0x8100, stackBase+0x3000, 1)
			s.record(stackBase+0x3000, stackBase+0x8200, 2)
			s.record(stackBase+0x8200, 0, 0)
		}, stackBase + 0x8100, 2, ErrFrameLoop},
	} {
		s := newStack()
		c.build(s)
		rets, err := Unwind(s, c.fp)
		if !errors.Is(err, c.want) || len(rets) != c.n {
			t.Errorf("%s: %d frames, %v; want %d, %v", c.name, len(rets), err, c.n, c.want)
		}
	}
}

func TestUnwindStackSwitch(t *testing.T) {
	// An interrupt's frames on its IRQ stack (above the task's here),
	// then the interrupted task's: allowed, as the kernel allows it.
	s := newStack()
	s.record(stackBase+0x8100, stackBase+0x8f00, 1)
	s.record(stackBase+0x8f00, stackBase+0x3000, 2) // pt_regs: the interrupted fp
	s.record(stackBase+0x3000, stackBase+0x3f00, 3)
	s.record(stackBase+0x3f00, 0, 0)
	rets, err := Unwind(s, stackBase+0x8100)
	if err != nil || !reflect.DeepEqual(rets, []uint64{1, 2, 3}) {
		t.Errorf("Unwind = %v, %v", rets, err)
	}
}

func FuzzUnwind(f *testing.F) {
	s := newStack()
	s.record(stackBase+0x100, stackBase+0x200, 1)
	s.record(stackBase+0x200, stackBase+0x100, 2)
	f.Add(uint64(stackBase+0x100), s.b[:0x400])
	f.Fuzz(func(t *testing.T, fp uint64, b []byte) {
		if fp < 1<<20 {
			fp += stackBase
		}
		rets, _ := Unwind(&flatStack{base: stackBase, b: b}, fp)
		if len(rets) > MaxUnwindDepth {
			t.Fatalf("%d frames", len(rets))
		}
		// The same through the MMU switched off: virtual is physical.
		mem := memory.NewGuestMemoryFromSlice(stackBase, b)
		rets2, _ := Unwind(GuestVirt{Mem: mem}, fp)
		if !reflect.DeepEqual(rets, rets2) {
			t.Fatalf("flat %#x, through GuestVirt %#x", rets, rets2)
		}
	})
}
