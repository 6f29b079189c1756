package virtio

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestTransportIdentity(t *testing.T) {
	for _, v := range []TransportVersion{Modern, Legacy} {
		d, _ := newBlockDriver(t, DiskOptions{Path: tempImage(t, 4096, 0)}, v, 0)
		if d.r32(regMagic) != 0x74726976 || d.r32(regVersion) != uint32(v) || d.r32(regDeviceID) != DeviceIDBlock {
			t.Errorf("v%d: magic %#x version %d device %d", v, d.r32(regMagic), d.r32(regVersion), d.r32(regDeviceID))
		}
		d.w32(regDeviceFeaturesSel, 1)
		hasV1 := d.r32(regDeviceFeatures)&1 != 0
		if hasV1 != (v == Modern) {
			t.Errorf("v%d: VERSION_1 offered = %v", v, hasV1)
		}
		// Narrow accesses to registers read as zero and change nothing.
		b := make([]byte, 2)
		d.tr.ReadMMIO(regMagic, b)
		if b[0] != 0 || b[1] != 0 {
			t.Errorf("a 16-bit register read returned %x", b)
		}
	}
}

func TestTransportFeatureNegotiation(t *testing.T) {
	disk, err := OpenDisk(DiskOptions{Path: tempImage(t, 4096, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	d := newDriver(t, Modern, NewBlock(disk, nil))
	for _, tc := range []struct {
		name string
		feat uint64
		ok   bool
	}{
		{"unoffered feature", 1<<FeatureVersion1 | 1<<40, false},
		{"no VERSION_1", 1 << blkFFlush, false},
		{"offered subset", 1<<FeatureVersion1 | 1<<blkFFlush, true},
	} {
		d.w32(regStatus, 0)
		d.w32(regStatus, StatusAcknowledge|StatusDriver)
		for sel := uint32(0); sel < 2; sel++ {
			d.w32(regDriverFeaturesSel, sel)
			d.w32(regDriverFeatures, uint32(tc.feat>>(32*sel)))
		}
		d.w32(regStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
		if got := d.r32(regStatus)&StatusFeaturesOK != 0; got != tc.ok {
			t.Errorf("%s: FEATURES_OK kept = %v, want %v", tc.name, got, tc.ok)
		}
	}
	// DRIVER_OK without FEATURES_OK breaks the device.
	d.w32(regStatus, 0)
	d.w32(regStatus, StatusAcknowledge|StatusDriver|StatusDriverOK)
	if d.r32(regStatus)&StatusDeviceNeedsReset == 0 {
		t.Errorf("DRIVER_OK without FEATURES_OK accepted")
	}
	d.w32(regStatus, 0)
	if d.r32(regStatus) != 0 {
		t.Errorf("reset did not clear the status")
	}
}

func TestTransportInterruptStatusAndReset(t *testing.T) {
	d, _ := newBlockDriver(t, DiskOptions{Path: tempImage(t, 4096, 0)}, Modern, 0)
	if st, _, _ := d.request(blkTIn, 0, nil, 512, false); st != blkSOK {
		t.Fatal("read failed")
	}
	select {
	case <-d.irqs:
	case <-time.After(time.Second):
		t.Fatal("no interrupt for a used buffer")
	}
	if d.r32(regInterruptStatus)&InterruptUsedBuffer == 0 {
		t.Errorf("InterruptStatus lacks the used-buffer bit")
	}
	d.w32(regInterruptACK, InterruptUsedBuffer)
	if d.r32(regInterruptStatus) != 0 {
		t.Errorf("InterruptACK did not clear the status")
	}
	// Reset stops the device and forgets the queue; a new setup works.
	d.w32(regStatus, 0)
	d.w32(regQueueSel, 0)
	if d.r32(regQueueReady) != 0 {
		t.Errorf("queue still ready after reset")
	}
	*d = driver{t: t, mem: d.mem, tr: d.tr, irqs: d.irqs, alloc: d.alloc, qs: make([]qstate, 1)}
	d.setup(8, 0)
	if st, _, _ := d.request(blkTIn, 0, nil, 512, false); st != blkSOK {
		t.Errorf("the device does not work after a reset")
	}
}

func TestTransportNoEventIdxHonoursNoInterrupt(t *testing.T) {
	d, _ := newBlockDriver(t, DiskOptions{Path: tempImage(t, 4096, 0)}, Modern, 1<<FeatureEventIdx)
	// VRING_AVAIL_F_NO_INTERRUPT: the driver polls, wants no interrupts.
	d.setAvailFlags(availFNoInterrupt)
	d.request(blkTIn, 0, nil, 512, false)
	select {
	case <-d.irqs:
		t.Errorf("interrupt despite VRING_AVAIL_F_NO_INTERRUPT")
	case <-time.After(50 * time.Millisecond):
	}
	d.setAvailFlags(0)
	d.request(blkTIn, 0, nil, 512, false)
	select {
	case <-d.irqs:
	case <-time.After(time.Second):
		t.Errorf("no interrupt once the driver clears NO_INTERRUPT")
	}
}

// TestQueueEventIdx checks the used_event and avail_event arithmetic on a
// queue driven directly.
func TestQueueEventIdx(t *testing.T) {
	d := newDriver(t, Modern, nil2())
	q := &Queue{MaxSize: 8, Size: 8, Ready: true, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000}
	if err := q.Activate(d.mem, true, false); err != nil {
		t.Fatal(err)
	}
	setUsedEvent := func(v uint16) {
		b := make([]byte, 2)
		binary.LittleEndian.PutUint16(b, v)
		d.mem.Write(q.Avail+4+2*8, b)
	}
	// The driver wants an interrupt once entry 2 is used (used_event=2).
	setUsedEvent(2)
	q.Push(0, 0)
	q.Push(1, 0)
	if q.ShouldInterrupt() {
		t.Errorf("interrupt before used_event was crossed")
	}
	q.Push(2, 0)
	if !q.ShouldInterrupt() {
		t.Errorf("no interrupt when used_event was crossed")
	}
	q.Push(3, 0)
	if q.ShouldInterrupt() {
		t.Errorf("interrupt again without a new used_event")
	}
	// avail_event tells the driver where to kick next.
	q.lastAvail = 5
	q.EnableNotifications()
	b := make([]byte, 2)
	d.mem.Read(q.Used+4+8*8, b)
	if binary.LittleEndian.Uint16(b) != 5 {
		t.Errorf("avail_event = %d, want 5", binary.LittleEndian.Uint16(b))
	}
}

// nil2 is a device with one queue that never runs, for queue-level tests.
func nil2() Device { return &idleDevice{} }

type idleDevice struct{}

func (idleDevice) DeviceID() uint32           { return 42 }
func (idleDevice) Features() uint64           { return 1<<FeatureEventIdx | 1<<FeatureIndirectDesc }
func (idleDevice) QueueMaxSizes() []uint16    { return []uint16{8} }
func (idleDevice) ReadConfig(uint64, []byte)  {}
func (idleDevice) WriteConfig(uint64, []byte) {}
func (idleDevice) Activate(ActivateEnv) error { return nil }
func (idleDevice) Reset()                     {}

func TestQueueActivateChecksLayout(t *testing.T) {
	mem := newDriver(t, Modern, nil2()).mem
	for _, q := range []Queue{
		{MaxSize: 8, Size: 6, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},       // not a power of 2
		{MaxSize: 8, Size: 16, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},      // above max
		{MaxSize: 8, Size: 8, Desc: ramBase + 8, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},   // misaligned
		{MaxSize: 8, Size: 8, Desc: ramBase, Avail: ramBase + 0x1000, Used: ramBase + ramSize - 16}, // used ring past RAM
		{MaxSize: 8, Size: 8, Desc: 0x1000, Avail: ramBase + 0x1000, Used: ramBase + 0x2000},        // below RAM
	} {
		if err := q.Activate(mem, false, false); err == nil {
			t.Errorf("queue %+v accepted", q)
		}
	}
}

// TestQueueHotPathAllocatesNothing: popping a chain (indirect here) and
// returning it allocates nothing once the Chain's slice has grown.
func TestQueueHotPathAllocatesNothing(t *testing.T) {
	d := newDriver(t, Modern, nil2())
	d.qsize = 8
	d.desc, d.avail, d.used = ramBase, ramBase+0x1000, ramBase+0x2000
	q := &Queue{MaxSize: 8, Size: 8, Ready: true, Desc: d.desc, Avail: d.avail, Used: d.used}
	if err := q.Activate(d.mem, true, true); err != nil {
		t.Fatal(err)
	}
	d.submit([]seg{{gpa: ramBase + 0x10000, n: 16}, {gpa: ramBase + 0x11000, n: 512, writable: true}}, true)
	var c Chain
	allocs := testing.AllocsPerRun(50, func() {
		ok, err := q.Pop(&c)
		if !ok || err != nil || len(c.Buffers) != 2 {
			t.Fatalf("pop: %v %v %d", ok, err, len(c.Buffers))
		}
		q.Push(c.Head, 512)
		q.ShouldInterrupt()
		q.EnableNotifications()
		q.lastAvail-- // the same chain again next round
	})
	if allocs != 0 {
		t.Errorf("Pop/Push/ShouldInterrupt allocate %.1f times per request", allocs)
	}
}
