package pl011

import (
	"context"
	"testing"
)

// FuzzRegisters runs a guest's register program against a PL011 while
// input arrives: each op is a register access of any width at any offset,
// or a burst of input. Nothing may panic or block; the FIFO stays within
// its depth and the interrupt line always equals MIS != 0.
func FuzzRegisters(f *testing.F) {
	f.Add([]byte{0x0c, 0x30, 0x01, 0x03, 0x2c, 0x70, 0x0c, 0x38, 0x50, 0x02, 0x00, 0x00, 0x41})
	f.Add([]byte{0x0c, 0x30, 0x81, 0x03, 0x00, 0x41, 0x00, 0x42, 0x08, 0x04, 0x08, 0x3c})
	f.Add([]byte{0x02, 0x05, 0x04, 0xe0, 0x0f, 0x04, 0xfc, 0x0f, 0x0c, 0x44, 0xff, 0x07})
	f.Fuzz(func(t *testing.T, ops []byte) {
		u := newTestUART()
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		buf := make([]byte, 8)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		for len(ops) > 0 {
			op := next()
			off := uint64(next()) | uint64(next()&0x1f)<<8 // 0..0x1fff: past the window too
			width := 1 << (op & 3)
			switch op >> 2 & 3 {
			case 0:
				u.ReadMMIO(off, buf[:width])
			case 1:
				u.ReadMMIO(off&^3, buf[:4])
			case 2:
				for i := range width {
					buf[i] = next()
				}
				u.WriteMMIO(off, buf[:width])
			case 3:
				// What fits goes in; the rest is not waited for.
				_ = u.Feed(done, []byte{byte(off), byte(off >> 8), op})
			}
			u.UART.mu.Lock()
			if len(u.rx) > fifoDepth || len(u.pending) > pendingSize {
				t.Fatalf("receive FIFO holds %d bytes", len(u.rx))
			}
			if want := u.rawStatus()&u.imsc != 0; u.line() != want {
				t.Fatalf("line %v, MIS says %v", u.line(), want)
			}
			u.UART.mu.Unlock()
		}
	})
}
