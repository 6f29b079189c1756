package arm64

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The guest kernel's stack is unwound the way arm64 Linux unwinds its own
// (arch/arm64/kernel/stacktrace.c, 6.1): x29 points to a frame record of
// two words, the caller's x29 and the return address (x30 as the
// prologue pushed it). The walk follows the chain and stops:
//   - at a record whose saved fp and return address are both 0: the final
//     record, which the kernel puts at the top of every task's stack (in
//     its pt_regs), and which its own unwinder stops at too;
//   - at an fp that is not 8-byte aligned (the kernel's check; records are
//     16-byte aligned in practice, but only 8 is required);
//   - at an unreadable record (unmapped, outside RAM);
//   - when a record is not strictly above the one before on the same
//     stack, or goes back to a stack already left: the kernel's guard
//     against loops. From outside the guest the stack bounds are unknown,
//     so a "stack" is approximated by a 16 KiB-aligned window (the
//     smallest THREAD_SIZE, which IRQ and overflow stacks share): within a
//     window each record must be above the previous, and a window left
//     (for the interrupted task's stack, say) is never re-entered. A
//     larger stack (KASAN's 32 KiB) is crossed upwards, never back, so
//     the rule holds for it too;
//   - after MaxUnwindDepth records.
// Return addresses may carry a pointer-authentication code; the caller
// strips it (it knows the address size from TCR_EL1).

// MaxUnwindDepth bounds a walk: a kernel backtrace deeper than this is
// either a loop the checks missed or more than a hang report needs.
const MaxUnwindDepth = 64

// stackWindowShift sizes the window that stands for one stack (16 KiB).
const stackWindowShift = 14

// VirtReader reads guest virtual memory; GuestVirt is one.
type VirtReader interface {
	Read(va uint64, p []byte) error
}

// Why an unwind stopped before the final record.
var (
	ErrFrameMisaligned = errors.New("frame pointer not 8-byte aligned")
	ErrFrameLoop       = errors.New("frame record not above the previous one (a loop, or a corrupt stack)")
	ErrFrameDepth      = fmt.Errorf("more than %d frames", MaxUnwindDepth)
)

// Unwind follows the frame record chain from fp and returns the return
// addresses it holds, innermost first, as stored (PAC bits included). err
// is nil when the chain ended normally (fp 0, or the final record), else
// it says why the walk stopped; the addresses found until then are
// returned either way.
func Unwind(mem VirtReader, fp uint64) (rets []uint64, err error) {
	var prev uint64
	var left []uint64 // windows left behind, at most MaxUnwindDepth
	for depth := 0; fp != 0; depth++ {
		if depth == MaxUnwindDepth {
			return rets, ErrFrameDepth
		}
		if fp&7 != 0 {
			return rets, fmt.Errorf("%w: fp=%#x", ErrFrameMisaligned, fp)
		}
		w := fp >> stackWindowShift
		if depth > 0 {
			if pw := prev >> stackWindowShift; w == pw {
				if fp <= prev {
					return rets, fmt.Errorf("%w: fp=%#x after %#x", ErrFrameLoop, fp, prev)
				}
			} else {
				for _, l := range left {
					if l == w {
						return rets, fmt.Errorf("%w: fp=%#x returns to a stack left before", ErrFrameLoop, fp)
					}
				}
				left = append(left, pw)
			}
		}
		var rec [16]byte
		if err := mem.Read(fp, rec[:]); err != nil {
			return rets, fmt.Errorf("frame record at %#x: %w", fp, err)
		}
		next, ret := binary.LittleEndian.Uint64(rec[:8]), binary.LittleEndian.Uint64(rec[8:])
		if next == 0 && ret == 0 {
			return rets, nil // the final record
		}
		rets = append(rets, ret)
		prev, fp = fp, next
	}
	return rets, nil
}
