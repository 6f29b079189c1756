package virtio_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
	"github.com/gokvm/gokvm/vmm/memory"
)

// Each hostile chain must leave gokvm running, touch nothing outside guest
// RAM, have nothing performed, and put the device in DEVICE_NEEDS_RESET;
// after a reset it works. (blk and net run the same chains against their
// devices.)
func TestBadChainsNeedReset(t *testing.T) {
	for _, tc := range virtiotest.BadChains() {
		t.Run(tc.Name, func(t *testing.T) {
			d, e := newEchoDriver(t, virtio.Modern, tc.Drop)
			tc.Make(d)
			d.Kick()
			d.WaitStatus(virtio.StatusDeviceNeedsReset)
			if d.Read32(virtio.RegInterruptStatus)&virtio.InterruptConfigChange == 0 {
				t.Errorf("no config-change interrupt with DEVICE_NEEDS_RESET")
			}
			if log := d.Log(); !strings.HasPrefix(log, "test: echo queue: malformed descriptor chain") || !strings.HasSuffix(log, "; the device needs a reset\n") {
				t.Errorf("logged %q", log)
			}
			if n := e.handled.Load(); n != 0 {
				t.Errorf("the device performed %d requests", n)
			}
			d.Setup(16, tc.Drop)
			if !echo(t, d, "after reset", false) {
				t.Errorf("the device does not work after a reset")
			}
		})
	}
}

// inside reports whether s lies within mem.
func inside(mem, s []byte) bool {
	lo := uintptr(unsafe.Pointer(&mem[0]))
	hi := lo + uintptr(len(mem))
	p := uintptr(unsafe.Pointer(&s[0]))
	return p >= lo && p+uintptr(len(s)) <= hi
}

// FuzzChain feeds arbitrary descriptor tables and rings to Pop: it must
// only ever return buffers inside guest RAM, or ErrBadChain.
func FuzzChain(f *testing.F) {
	f.Add(make([]byte, 16*8), []byte{0, 0, 1, 0, 0, 0}, true)
	loop := make([]byte, 32)
	binary.LittleEndian.PutUint64(loop[0:], ramBase+0x3000)
	binary.LittleEndian.PutUint32(loop[8:], 16)
	binary.LittleEndian.PutUint16(loop[12:], virtio.DescFNext)
	f.Add(loop, []byte{0, 0, 1, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, table, avail []byte, indirect bool) {
		mem := make([]byte, 64<<10)
		m := memory.NewGuestMemoryFromSlice(ramBase, mem)
		copy(mem[0:16*8], table)
		copy(mem[0x1000:0x1000+6+2*8], avail)
		// Let indirect tables point at the fuzzed bytes too.
		copy(mem[0x3000:], table)
		q := &virtio.Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
		if err := q.Activate(m, true, indirect); err != nil {
			t.Fatal(err)
		}
		var c virtio.Chain
		for i := 0; i < 10; i++ {
			ok, err := q.Pop(&c)
			if err != nil {
				if !errors.Is(err, virtio.ErrBadChain) && !errors.Is(err, memory.ErrOutOfRange) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if !ok {
				return
			}
			for _, b := range c.Buffers {
				if len(b.Data) > 0 && !inside(mem, b.Data) {
					t.Fatalf("a buffer lies outside guest RAM")
				}
			}
			q.Push(c.Head, 0)
			q.ShouldInterrupt()
		}
	})
}
