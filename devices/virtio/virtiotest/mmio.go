package virtiotest

import "github.com/gokvm/gokvm/devices/virtio"

// transportDriver is the register-level part of a driver, what differs
// between transports.
type transportDriver interface {
	status() uint32
	setStatus(v uint32)
	// offered reads the device's features.
	offered() uint64
	writeFeatures(f uint64)
	legacy() bool
	// queueMax is queue i's largest size, 0 for no such queue.
	queueMax(i int) uint32
	// setupQueue gives queue i size entries at r's rings and readies
	// it.
	setupQueue(i int, size uint16, r *ring)
	kick(i int)
}

// mmioDriver drives virtio-mmio registers.
type mmioDriver struct{ d *Driver }

func (m mmioDriver) status() uint32     { return m.d.Read32(virtio.RegStatus) }
func (m mmioDriver) setStatus(v uint32) { m.d.Write32(virtio.RegStatus, v) }
func (m mmioDriver) legacy() bool       { return m.d.Read32(virtio.RegVersion) == uint32(virtio.Legacy) }
func (m mmioDriver) kick(i int)         { m.d.Write32(virtio.RegQueueNotify, uint32(i)) }

func (m mmioDriver) offered() uint64 {
	var f uint64
	for sel := uint32(0); sel < 2; sel++ {
		m.d.Write32(virtio.RegDeviceFeaturesSel, sel)
		f |= uint64(m.d.Read32(virtio.RegDeviceFeatures)) << (32 * sel)
	}
	return f
}

func (m mmioDriver) writeFeatures(f uint64) {
	for sel := uint32(0); sel < 2; sel++ {
		m.d.Write32(virtio.RegDriverFeaturesSel, sel)
		m.d.Write32(virtio.RegDriverFeatures, uint32(f>>(32*sel)))
	}
}

func (m mmioDriver) queueMax(i int) uint32 {
	m.d.Write32(virtio.RegQueueSel, uint32(i))
	return m.d.Read32(virtio.RegQueueNumMax)
}

func (m mmioDriver) setupQueue(i int, size uint16, r *ring) {
	d := m.d
	d.Write32(virtio.RegQueueSel, uint32(i))
	d.Write32(virtio.RegQueueNum, uint32(size))
	if m.legacy() {
		d.Write32(virtio.RegGuestPageSize, 4096)
		d.Write32(virtio.RegQueueAlign, 4096)
		d.Write32(virtio.RegQueuePFN, uint32(r.desc/4096))
		return
	}
	d.Write32(virtio.RegQueueDescLow, uint32(r.desc))
	d.Write32(virtio.RegQueueDescHigh, uint32(r.desc>>32))
	d.Write32(virtio.RegQueueDriverLow, uint32(r.avail))
	d.Write32(virtio.RegQueueDriverHigh, 0)
	d.Write32(virtio.RegQueueDeviceLow, uint32(r.used))
	d.Write32(virtio.RegQueueDeviceHigh, 0)
	d.Write32(virtio.RegQueueReady, 1)
}
