package virtio_test

import (
	"testing"

	"github.com/gokvm/gokvm/devices/virtio/blk"
	"github.com/gokvm/gokvm/devices/virtio/virtiotest"
)

// FuzzPCIRegisters drives a virtio-pci function with arbitrary accesses
// to its configuration space (BARs, command, MSI-X control, the PCI_CFG
// window) and to the host bridge's memory window (the virtio structures
// and the MSI-X table wherever the guest moved them, and where nothing
// is), over arbitrary guest memory, with a live block device behind it:
// nothing may panic, hang, or touch memory outside guest RAM (the race
// detector and Go's bounds checks catch the rest).
func FuzzPCIRegisters(f *testing.F) {
	// Seeds: enable the queue and DRIVER_OK, then kick; move BAR 0;
	// program an MSI-X entry and mask it.
	f.Add([]byte{
		1, 0x14, 0x00, 1, 0, 0, 0, 0, // device_status = ACK
		1, 0x1c, 0x00, 1, 0, 0, 0, 1, // queue_enable (16-bit)
		1, 0x14, 0x00, 0x0f, 0, 0, 0, 0, // DRIVER_OK...
		1, 0x00, 0x30, 0, 0, 0, 0, 1, // doorbell
	}, []byte{1, 2, 3}, true)
	f.Add([]byte{
		0, 0x10, 0, 0x00, 0x00, 0x10, 0x50, 2, // BAR 0 moved
		0, 0x04, 0, 0x06, 0x04, 0, 0, 1, // command
		1, 0x10, 0x40, 0x40, 0, 0, 0x08, 2, // an MSI-X entry
		0, 0x42, 0, 0x00, 0xc0, 0, 0, 1, // enable, function mask
	}, []byte{0xff}, true)
	f.Add([]byte{0, 0xa8, 0, 0, 0, 0, 0, 2, 0, 0xac, 0, 0x00, 0, 0, 0, 2}, []byte{}, false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, ops, ram []byte, msix bool) {
		d, m := virtiotest.NewPCI(t, blk.New(fuzzDisk(t, dir), nil), msix)
		m.GuestMovesBARs()
		// The rings' part of RAM (the driver's layout puts them in
		// the first 256 KiB).
		d.Mem.Write(virtiotest.RAMBase, repeated(ram, 256<<10))
		// Each op: where (0: configuration space, 1: the memory
		// window), a 16-bit offset, 4 value bytes, and a byte choosing
		// read or write and the width.
		for i := 0; i+8 <= len(ops); i += 8 {
			off := uint64(ops[i+1]) | uint64(ops[i+2])<<8
			width := []int{1, 2, 4, 8}[ops[i+7]>>1&3]
			data := make([]byte, width)
			copy(data, ops[i+3:i+7])
			write := ops[i+7]&1 != 0
			switch ops[i] % 3 {
			case 0:
				if write {
					d.Dev.WriteMMIO(off, data)
				} else {
					d.Dev.ReadMMIO(off, data)
				}
			case 1:
				m.Bus.Dispatch(virtiotest.PCIMemBase+off, data, write)
			default:
				m.Bus.Dispatch(virtiotest.PCIMemBase+off<<12, data, write)
			}
		}
		// A kick and a reset, wherever BAR 0 is now.
		busWrite(m, notifyAddr, 2, 0)
		busWrite(m, commonAddr+0x14, 1, 0)
	})
}
