package virtio

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// Each hostile chain must leave gokvm running, touch nothing outside guest
// RAM, and put the device in DEVICE_NEEDS_RESET; after a reset it works.
func TestBadChainsNeedReset(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop uint64 // features the driver declines
		make func(d *driver)
	}{
		{"descriptor loop", 0, func(d *driver) {
			d.putDesc(d.desc, 0, d.buf(nil, 16), 16, descFNext, 1)
			d.putDesc(d.desc, 1, d.buf(nil, 16), 16, descFNext, 0)
			d.publish(0)
		}},
		{"next past the table", 0, func(d *driver) {
			d.putDesc(d.desc, 0, d.buf(nil, 16), 16, descFNext, 200)
			d.publish(0)
		}},
		{"head past the table", 0, func(d *driver) { d.publish(100) }},
		{"buffer outside RAM", 0, func(d *driver) {
			d.putDesc(d.desc, 0, 0x1000, 16, 0, 0)
			d.publish(0)
		}},
		{"buffer running past RAM", 0, func(d *driver) {
			d.putDesc(d.desc, 0, ramBase+ramSize-8, 0xffffffff, descFWrite, 0)
			d.publish(0)
		}},
		{"address that wraps", 0, func(d *driver) {
			d.putDesc(d.desc, 0, ^uint64(0)-4, 64, 0, 0)
			d.publish(0)
		}},
		{"indirect not negotiated", 1 << FeatureIndirectDesc, func(d *driver) {
			d.putDesc(d.desc, 0, d.buf(nil, 32), 32, descFIndirect, 0)
			d.publish(0)
		}},
		{"nested indirect", 0, func(d *driver) {
			inner := d.buf(nil, 16)
			table := d.buf(nil, 16)
			d.putDesc(table, 0, inner, 16, descFIndirect, 0)
			d.putDesc(d.desc, 0, table, 16, descFIndirect, 0)
			d.publish(0)
		}},
		{"indirect with NEXT", 0, func(d *driver) {
			d.putDesc(d.desc, 0, d.buf(nil, 32), 32, descFIndirect|descFNext, 1)
			d.publish(0)
		}},
		{"indirect table of odd size", 0, func(d *driver) {
			d.putDesc(d.desc, 0, d.buf(nil, 24), 24, descFIndirect, 0)
			d.publish(0)
		}},
		{"indirect table outside RAM", 0, func(d *driver) {
			d.putDesc(d.desc, 0, 0x10, 64, descFIndirect, 0)
			d.publish(0)
		}},
		{"indirect loop", 0, func(d *driver) {
			table := d.buf(nil, 32)
			d.putDesc(table, 0, d.buf(nil, 16), 16, descFNext, 1)
			d.putDesc(table, 1, d.buf(nil, 16), 16, descFNext, 0)
			d.putDesc(d.desc, 0, table, 32, descFIndirect, 0)
			d.publish(0)
		}},
		{"available index jump", 0, func(d *driver) {
			d.aidx = 999
			d.publish(0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempImage(t, 64<<10, 0x5a)
			before, _ := os.ReadFile(path)
			d, _ := newBlockDriver(t, DiskOptions{Path: path}, Modern, tc.drop)
			tc.make(d)
			d.kick()
			d.waitStatus(StatusDeviceNeedsReset)
			if d.r32(regInterruptStatus)&InterruptConfigChange == 0 {
				t.Errorf("no config-change interrupt with DEVICE_NEEDS_RESET")
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("the disk changed")
			}
			*d = driver{t: t, mem: d.mem, tr: d.tr, irqs: d.irqs, alloc: d.alloc, qs: make([]qstate, 1)}
			d.setup(16, tc.drop)
			if st, _, _ := d.request(blkTIn, 0, nil, 512, false); st != blkSOK {
				t.Errorf("the device does not work after a reset")
			}
		})
	}
}

// FuzzChain feeds arbitrary descriptor tables and rings to Pop: it must
// only ever return buffers inside guest RAM, or ErrBadChain.
func FuzzChain(f *testing.F) {
	f.Add(make([]byte, 16*8), []byte{0, 0, 1, 0, 0, 0}, true)
	loop := make([]byte, 32)
	binary.LittleEndian.PutUint64(loop[0:], ramBase+0x3000)
	binary.LittleEndian.PutUint32(loop[8:], 16)
	binary.LittleEndian.PutUint16(loop[12:], descFNext)
	f.Add(loop, []byte{0, 0, 1, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, table, avail []byte, indirect bool) {
		mem := make([]byte, 64<<10)
		m := newGuestMem(mem)
		copy(mem[0:16*8], table)
		copy(mem[0x1000:0x1000+6+2*8], avail)
		// Let indirect tables point at the fuzzed bytes too.
		copy(mem[0x3000:], table)
		q := &Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
		if err := q.Activate(m, true, indirect); err != nil {
			t.Fatal(err)
		}
		var c Chain
		for i := 0; i < 10; i++ {
			ok, err := q.Pop(&c)
			if err != nil {
				if !errors.Is(err, ErrBadChain) && !errors.Is(err, errOutOfRangeAlias) {
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
