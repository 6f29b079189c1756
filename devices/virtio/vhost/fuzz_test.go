package vhost

import (
	"encoding/binary"
	"testing"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm/memory"
)

// translating is a device that, when the driver sets DRIVER_OK, translates
// its queues' rings as Rings does and checks every address that would go
// to the kernel against gokvm's mapping of guest RAM.
type translating struct {
	t         *testing.T
	activated int
}

func (d *translating) DeviceID() uint32 { return 19 }
func (d *translating) Features() uint64 {
	return 1<<virtio.FeatureEventIdx | 1<<virtio.FeatureIndirectDesc
}
func (d *translating) QueueMaxSizes() []uint16    { return []uint16{256, 256, 64} }
func (d *translating) FDNotifiedQueues() []int    { return []int{0, 1} }
func (d *translating) ReadConfig(uint64, []byte)  {}
func (d *translating) WriteConfig(uint64, []byte) {}
func (d *translating) Reset()                     {}

func (d *translating) Activate(env virtio.ActivateEnv) error {
	if len(env.NotifyFDs) != 3 {
		d.t.Errorf("NotifyFDs %v for 3 queues", env.NotifyFDs)
	}
	lo := uint64(env.Mem.HostAddr())
	hi := lo + env.Mem.Size()
	for _, qi := range d.FDNotifiedQueues() {
		q := env.Queues[qi]
		if !q.Ready {
			continue
		}
		a, err := RingAddrs(env.Mem, q, uint32(qi))
		if err != nil {
			// The transport checked the same layout: it should not
			// have activated the queue.
			d.t.Errorf("queue %d (%+v) activated by the transport, refused here: %v", qi, *q, err)
			return err
		}
		n := uint64(q.Size)
		for _, r := range [][2]uint64{{a.Desc, 16 * n}, {a.Avail, 6 + 2*n}, {a.Used, 6 + 8*n}} {
			if r[0] < lo || r[0]+r[1] > hi || r[0]+r[1] < r[0] {
				d.t.Errorf("queue %d: host range [%#x, +%#x) outside guest RAM [%#x, %#x)", qi, r[0], r[1], lo, hi)
			}
		}
	}
	d.activated++
	return nil
}

// fuzzRegs are the registers a driver sets queues up with.
var fuzzRegs = []uint64{
	virtio.RegQueueSel, virtio.RegQueueNum, virtio.RegQueueReady,
	virtio.RegQueueDescLow, virtio.RegQueueDescHigh, virtio.RegQueueDriverLow,
	virtio.RegQueueDriverHigh, virtio.RegQueueDeviceLow, virtio.RegQueueDeviceHigh,
	virtio.RegQueueAlign, virtio.RegQueuePFN, virtio.RegGuestPageSize,
	virtio.RegStatus, virtio.RegDriverFeaturesSel, virtio.RegDriverFeatures,
}

// FuzzRingTranslation: whatever queue sizes and addresses a driver writes
// before DRIVER_OK (any order, any values, either transport version), a
// queue the device is activated with translates to host addresses within
// gokvm's mapping of guest RAM, and nothing panics.
func FuzzRingTranslation(f *testing.F) {
	// A well-behaved modern set-up of queue 0 at the start of RAM.
	f.Add([]byte{
		12, 1, 0, 0, 0, 12, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 16, 0, 0, 0,
		3, 0, 0, 0, 0x40, 5, 0, 0x40, 0, 0x40, 7, 0, 0x80, 0, 0x40, 2, 1, 0, 0, 0,
	}, false)
	// A legacy queue whose PFN puts its rings past the end of RAM.
	f.Add([]byte{11, 0, 16, 0, 0, 1, 0, 1, 0, 0, 10, 0xff, 0x40, 0, 0}, true)
	f.Fuzz(func(t *testing.T, ops []byte, legacy bool) {
		v := virtio.Modern
		if legacy {
			v = virtio.Legacy
		}
		dev := &translating{t: t}
		mem := memory.NewGuestMemoryFromSlice(ramBase, make([]byte, 64<<10))
		tr := virtio.NewMMIO("fuzz", v, dev, mem, func() {}, nil)
		defer tr.Close()
		w := func(off uint64, v uint32) {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], v)
			tr.WriteMMIO(off, b[:])
		}
		// Each op: a register, then its 4-byte value.
		for i := 0; i+5 <= len(ops); i += 5 {
			w(fuzzRegs[int(ops[i])%len(fuzzRegs)], binary.LittleEndian.Uint32(ops[i+1:]))
		}
		// Whatever state that left, try to go live.
		w(virtio.RegDriverFeaturesSel, 1)
		w(virtio.RegDriverFeatures, 1)
		w(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
		w(virtio.RegStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
		w(virtio.RegStatus, 0)
	})
}
