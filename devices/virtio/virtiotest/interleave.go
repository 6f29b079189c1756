package virtiotest

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/gokvm/gokvm/devices/virtio"
)

// Device is what Interleave needs to know of the device behind a driver.
type Device struct {
	// Request makes a well-formed request of a kind arg chooses
	// available on a queue it selects, without kicking. It allocates at
	// most 64 KiB with Buf.
	Request func(d *Driver, arg byte)
	// Backend, when not nil, does something to the device's backend (a
	// frame arriving from the network).
	Backend func(arg byte)
	// Works checks, after a fresh Setup, that the device serves a
	// request.
	Works func(d *Driver)
	// Confine keeps every queue's rings and buffers in memory of its own:
	// its rings where Setup put them (or outside RAM), its fuzzed
	// descriptors pointing into its own scratch area (or outside RAM),
	// raw writes only into its avail and used rings. A device whose
	// queues run on goroutines of their own would otherwise touch the same
	// guest memory from two goroutines, which the race detector reports
	// though a guest may do it.
	Confine bool
}

// The fuzz's guest memory: queue q's rings at RAMBase+q*ringSpan (as
// Setup lays them out), its scratch buffers at scratchBase+q*ringSpan;
// Request's buffers come from Buf, below scratchBase.
const (
	scratchBase = RAMBase + 3<<20
	bufLimit    = scratchBase - 64<<10
)

// Interleave runs a hostile driver's program, ops, against the device
// behind d: register writes and reads, descriptor and ring writes into
// guest memory, well-formed requests, kicks while the device's goroutines
// run, waits for completions, resets from two goroutines at once, pauses,
// and backend events, in the order ops says. Nothing may panic, hang or
// fault; afterwards a fresh setup must work, and a Close racing two
// resets must return.
//
// The driver touches guest memory only while the device is paused, as
// the race detector would otherwise report the guest's writes racing the
// device's reads (which a real guest's may, and the device copes with).
func Interleave(d *Driver, ops []byte, dev Device) {
	f := &fuzzer{d: d, dev: dev, ops: ops}
	f.setup(8, 0)
	for f.more() {
		f.step()
	}
	if f.paused {
		d.Resume()
	}
	if errs := d.Faults(); len(errs) > 0 {
		d.T.Fatalf("the device faulted: %v", errs)
	}
	d.Setup(8, 0)
	d.FreeBufs()
	dev.Works(d)
	if !within(5*time.Second, func() { parallel(func() { d.Close() }, d.reset, d.reset) }) {
		d.T.Fatalf("Close racing two resets did not return")
	}
	if errs := d.Faults(); len(errs) > 0 {
		d.T.Fatalf("the device faulted: %v", errs)
	}
}

type fuzzer struct {
	d      *Driver
	dev    Device
	ops    []byte
	pos    int
	paused bool
	// What the transport holds and does not let the driver read back.
	sel      uint32
	pageSize uint64
}

// setup is Driver.Setup, noting what it leaves in the registers.
func (f *fuzzer) setup(size uint16, drop uint64) {
	f.d.Setup(size, drop)
	f.d.FreeBufs()
	f.sel, f.pageSize = uint32(len(f.d.rings)), 4096
}

// write writes a register, noting what cannot be read back.
func (f *fuzzer) write(off uint64, v uint32) {
	v = f.register(off, v)
	switch {
	case off == virtio.RegQueueSel:
		f.sel = v
	case off == virtio.RegGuestPageSize && v != 0 && v&(v-1) == 0:
		f.pageSize = uint64(v)
	case off == virtio.RegStatus && v == 0:
		f.sel, f.pageSize = 0, 4096
	}
	f.d.Write32(off, v)
}

func (f *fuzzer) more() bool { return f.pos < len(f.ops) }

// byte takes the next byte of the program, 0 past its end.
func (f *fuzzer) byte() byte {
	if f.pos >= len(f.ops) {
		return 0
	}
	b := f.ops[f.pos]
	f.pos++
	return b
}

func (f *fuzzer) u16() uint16 { return uint16(f.byte()) | uint16(f.byte())<<8 }
func (f *fuzzer) u32() uint32 { return uint32(f.u16()) | uint32(f.u16())<<16 }

// quiet runs fn with the device paused (held between requests), so that
// fn's guest memory accesses race nothing of the device's.
func (f *fuzzer) quiet(fn func()) {
	if !f.paused {
		f.d.Pause()
		defer f.d.Resume()
	}
	fn()
}

// queue picks one of the driver's queues that Setup laid out.
func (f *fuzzer) queue() (int, bool) {
	q := int(f.byte()) % len(f.d.rings)
	return q, f.d.rings[q].desc != 0
}

func (f *fuzzer) step() {
	d := f.d
	switch f.byte() % 12 {
	case 0: // set the device up afresh
		size := uint16(1) << (f.byte() % 5)
		drop := uint64(f.byte()&3) << virtio.FeatureIndirectDesc
		f.setup(size, drop)
	case 1: // write a register
		off := uint64(f.byte()%0x40) * 4
		f.write(off, f.u32())
	case 2:
		d.Read32(uint64(f.byte()%0x40) * 4)
	case 3: // write a descriptor
		q, ok := f.queue()
		i, addr := f.u16()%d.qsize, f.address(q)
		n := []uint32{0, 1, 16, 17, 512, 4096, 1 << 20, 0xffffffff}[f.byte()%8]
		flags, next := uint16(f.byte()%8), uint16(f.byte())
		if ok {
			f.quiet(func() { d.PutDesc(d.rings[q].desc, i, addr, n, flags, next) })
		}
	case 4: // publish a head
		q, ok := f.queue()
		head := f.u16()
		if ok {
			f.quiet(func() { d.SelectQueue(q); d.Publish(head) })
		}
	case 5: // kick
		q, _ := f.queue()
		d.Write32(virtio.RegQueueNotify, uint32(q))
	case 6: // wait a little for completions, and take them
		q, ok := f.queue()
		if ok {
			f.drain(q, time.Duration(f.byte()%8)*time.Millisecond)
		}
	case 7: // write raw bytes into a queue's rings or scratch area
		q, ok := f.queue()
		off := uint64(f.u16()) % (2*ringSpan - 8)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(f.u32())|uint64(f.u32())<<32)
		base := RAMBase + uint64(q)*ringSpan
		if f.dev.Confine {
			// Past any descriptor table: the avail and used rings.
			off = 0x1000 + off%(ringSpan-0x1008)
		} else if off >= ringSpan {
			base, off = scratchBase+uint64(q)*ringSpan, off-ringSpan
		}
		if ok {
			f.quiet(func() { d.Mem.Write(base+min(off, ringSpan-8), b[:]) })
		}
	case 8: // reset from two vcpus at once
		parallel(d.reset, d.reset)
		f.sel, f.pageSize = 0, 4096
	case 9: // a well-formed request, kicked
		arg := f.byte()
		if d.alloc < bufLimit && len(d.rings) > 0 && d.rings[0].desc != 0 {
			f.quiet(func() { f.dev.Request(d, arg) })
			d.Kick()
		}
	case 10: // pause or resume, as the machine does
		if f.paused {
			d.Resume()
		} else {
			d.Pause()
		}
		f.paused = !f.paused
	case 11:
		arg := f.byte()
		if f.dev.Backend != nil {
			f.dev.Backend(arg)
		}
	}
}

// address is where a fuzzed descriptor points: into queue q's scratch
// area, or outside RAM, or (unless confined) its rings or anywhere.
func (f *fuzzer) address(q int) uint64 {
	off := uint64(f.u16())
	switch f.byte() % 6 {
	case 0, 1:
		return scratchBase + uint64(q)*ringSpan + off%ringSpan
	case 2:
		return []uint64{0, RAMBase - 16, RAMBase + RAMSize - 8, ^uint64(0) - 4}[off%4]
	}
	switch {
	case f.dev.Confine:
		return scratchBase + uint64(q)*ringSpan + off%ringSpan
	case off&1 != 0:
		return RAMBase + uint64(q)*ringSpan + off%ringSpan
	}
	return RAMBase + off<<6%RAMSize
}

// register is the value a fuzzed register write carries. Confined, a
// queue's ring addresses are either where Setup puts them or outside RAM
// (which activation refuses), and so is a legacy queue's page frame.
func (f *fuzzer) register(off uint64, v uint32) uint32 {
	if !f.dev.Confine {
		return v
	}
	own := uint64(RAMBase) + uint64(f.sel)*ringSpan
	outside := v&1 != 0
	switch off {
	case virtio.RegQueueDescLow, virtio.RegQueueDescHigh,
		virtio.RegQueueDriverLow, virtio.RegQueueDriverHigh,
		virtio.RegQueueDeviceLow, virtio.RegQueueDeviceHigh:
		at := map[uint64]uint64{
			virtio.RegQueueDescLow: own, virtio.RegQueueDriverLow: own + 0x4000, virtio.RegQueueDeviceLow: own + 0x8000,
		}[off]
		switch {
		case outside && at != 0:
			return 0x1000
		case at != 0:
			return uint32(at)
		}
		return 0 // the high halves
	case virtio.RegQueuePFN:
		if outside || f.sel >= 4 {
			return v % 16 // below RAM, or 0: no queue
		}
		return uint32(own / f.pageSize)
	case virtio.RegGuestPageSize:
		return 1024 << (v % 3) // divides a ring span
	case virtio.RegQueueAlign:
		return 1 << (v % 13) // the used ring stays within 12 KiB
	}
	return v
}

// drain waits up to timeout for queue q's outstanding chains, and takes
// whatever the device used.
func (f *fuzzer) drain(q int, timeout time.Duration) {
	d := f.d
	d.SelectQueue(q)
	r := d.ring()
	deadline := time.Now().Add(timeout)
	for {
		var used uint16
		f.quiet(func() { used = d.UsedIdx() })
		if used == r.aidx || !time.Now().Before(deadline) {
			r.seen = used
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// reset writes 0 to the device status, as a vcpu does.
func (d *Driver) reset() { d.tr.setStatus(0) }

// parallel runs fns at once and waits for them.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	wg.Wait()
}

// within reports whether fn returned within d.
func within(d time.Duration, fn func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
