package virtiotest

import "github.com/gokvm/gokvm/devices/virtio"

// BadChain is a hostile driver's chain. Made available on a device's queue
// and kicked, it must leave gokvm running, touch nothing outside guest RAM,
// perform nothing, and put the device in DEVICE_NEEDS_RESET; after a reset
// the device works again.
type BadChain struct {
	Name string
	// Drop is the features the driver declines in Setup.
	Drop uint64
	// Make writes the chain into the selected queue and publishes it,
	// without kicking.
	Make func(d *Driver)
}

// BadChains lists every kind of malformed chain the queues must refuse.
func BadChains() []BadChain {
	return []BadChain{
		{"descriptor loop", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, d.Buf(nil, 16), 16, virtio.DescFNext, 1)
			d.PutDesc(d.DescTable(), 1, d.Buf(nil, 16), 16, virtio.DescFNext, 0)
			d.Publish(0)
		}},
		{"next past the table", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, d.Buf(nil, 16), 16, virtio.DescFNext, 200)
			d.Publish(0)
		}},
		{"head past the table", 0, func(d *Driver) { d.Publish(100) }},
		{"buffer outside RAM", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, 0x1000, 16, 0, 0)
			d.Publish(0)
		}},
		{"buffer running past RAM", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, RAMBase+RAMSize-8, 0xffffffff, virtio.DescFWrite, 0)
			d.Publish(0)
		}},
		{"address that wraps", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, ^uint64(0)-4, 64, 0, 0)
			d.Publish(0)
		}},
		{"indirect not negotiated", 1 << virtio.FeatureIndirectDesc, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, d.Buf(nil, 32), 32, virtio.DescFIndirect, 0)
			d.Publish(0)
		}},
		{"nested indirect", 0, func(d *Driver) {
			inner := d.Buf(nil, 16)
			table := d.Buf(nil, 16)
			d.PutDesc(table, 0, inner, 16, virtio.DescFIndirect, 0)
			d.PutDesc(d.DescTable(), 0, table, 16, virtio.DescFIndirect, 0)
			d.Publish(0)
		}},
		{"indirect with NEXT", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, d.Buf(nil, 32), 32, virtio.DescFIndirect|virtio.DescFNext, 1)
			d.Publish(0)
		}},
		{"indirect table of odd size", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, d.Buf(nil, 24), 24, virtio.DescFIndirect, 0)
			d.Publish(0)
		}},
		{"indirect table outside RAM", 0, func(d *Driver) {
			d.PutDesc(d.DescTable(), 0, 0x10, 64, virtio.DescFIndirect, 0)
			d.Publish(0)
		}},
		{"indirect loop", 0, func(d *Driver) {
			table := d.Buf(nil, 32)
			d.PutDesc(table, 0, d.Buf(nil, 16), 16, virtio.DescFNext, 1)
			d.PutDesc(table, 1, d.Buf(nil, 16), 16, virtio.DescFNext, 0)
			d.PutDesc(d.DescTable(), 0, table, 32, virtio.DescFIndirect, 0)
			d.Publish(0)
		}},
		{"available index jump", 0, func(d *Driver) {
			d.SetAvailIdx(999)
			d.Publish(0)
		}},
	}
}
