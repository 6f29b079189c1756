package machine

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/cfiflash"
	"github.com/gokvm/gokvm/devices/virtio/blk"
	vnet "github.com/gokvm/gokvm/devices/virtio/net"
	"github.com/gokvm/gokvm/devices/virtio/ninep"
	"github.com/gokvm/gokvm/devices/virtio/vsock"
	"github.com/gokvm/gokvm/vmm"
)

// deviceStats reads one device's counters for --stats (NICs' frames,
// shares' reads and writes), under the name its line starts with.
type deviceStats struct {
	name  string
	stats func() string
}

func nicStats(index int, stats func() string) deviceStats {
	return deviceStats{name: fmt.Sprintf("nic%d", index), stats: stats}
}

// openDisks opens every disk image (so a bad one fails before KVM is
// touched) and describes a virtio-blk device for each, in order. Once the
// machine is built the device owns its disk: it flushes and closes it when
// the machine closes; until then the builder closes it on error.
func (m *Machine) openDisks(r *resolved) ([]vmm.DeviceSpec, error) {
	var specs []vmm.DeviceSpec
	for i, d := range r.spec.Disks {
		disk, err := blk.OpenDisk(blk.DiskOptions{Path: d.Path, ReadOnly: d.ReadOnly, Direct: d.Direct, Serial: d.Serial})
		if err != nil {
			return nil, err
		}
		m.backends = append(m.backends, disk)
		if disk.Size()%blk.SectorSize != 0 {
			m.log.Printf("disk %s: %d bytes is not a multiple of %d; the guest sees %d sectors and not the last %d bytes",
				d.Path, disk.Size(), blk.SectorSize, disk.Sectors(), disk.Size()%blk.SectorSize)
		}
		specs = append(specs, r.virtioSpec(fmt.Sprintf("virtio-blk%d", i), blk.New(disk, m.log)))
	}
	return specs, nil
}

// openFlash opens the flash file, if the spec names one, and describes
// the CFI flash over it, which owns the file once the machine is built.
func (m *Machine) openFlash(r *resolved) ([]vmm.DeviceSpec, error) {
	if r.spec.Flash == "" {
		return nil, nil
	}
	fl, err := cfiflash.Open(r.spec.Flash)
	if err != nil {
		return nil, err
	}
	m.backends = append(m.backends, fl)
	if note := fl.Note(); note != "" {
		m.log.Print(note)
	}
	return []vmm.DeviceSpec{cfiflash.Spec(fl)}, nil
}

// openNICs opens every tap (creating what does not exist) and describes a
// virtio-net device for each, which owns its tap once the machine is built
// (a tap gokvm created disappears when the device closes it).
func (m *Machine) openNICs(r *resolved) ([]vmm.DeviceSpec, error) {
	var specs []vmm.DeviceSpec
	for _, n := range r.nics {
		if n.user {
			spec, err := m.openUserNIC(r, n)
			if err != nil {
				return nil, err
			}
			specs = append(specs, spec)
			continue
		}
		t, err := vnet.OpenTap(n.tapif)
		if err != nil {
			return nil, err
		}
		m.backends = append(m.backends, t)
		name := fmt.Sprintf("virtio-net%d (%s)", n.index, n.tapif)
		if n.vhost {
			dev, err := vnet.NewVhost(name, t, n.mac, m.log)
			if err != nil {
				return nil, err
			}
			m.backends = append(m.backends, dev)
			m.deviceStats = append(m.deviceStats, nicStats(n.index, dev.Stats))
			specs = append(specs, nicSpec(n.index, r.virtioSpec(name, dev)))
			continue
		}
		io, err := vnet.NewTapIO(t)
		if err != nil {
			return nil, err
		}
		dev := vnet.New(name, io, n.mac, m.log)
		m.deviceStats = append(m.deviceStats, nicStats(n.index, dev.Stats.String))
		specs = append(specs, nicSpec(n.index, r.virtioSpec(name, dev)))
	}
	return specs, nil
}

// nicSpec gives NIC index's device its name in a state file: its
// position, not its tap, which a restore may change (RestoreSpec).
func nicSpec(index int, s vmm.DeviceSpec) vmm.DeviceSpec {
	s.StateName = fmt.Sprintf("virtio-net%d", index)
	return s
}

// openShares opens every shared directory and describes a virtio-9p
// device for each, in order, which owns its directory once the machine
// is built.
func (m *Machine) openShares(r *resolved) ([]vmm.DeviceSpec, error) {
	var specs []vmm.DeviceSpec
	for i, sh := range r.spec.Shares {
		share, err := ninep.OpenShare(sh.Dir, ninep.Options{ReadOnly: sh.ReadOnly, Mounts: sh.Mounts})
		if err != nil {
			return nil, err
		}
		m.backends = append(m.backends, share)
		m.deviceStats = append(m.deviceStats, deviceStats{name: "9p " + sh.Tag, stats: func() string { return share.Stats().String() }})
		name := fmt.Sprintf("virtio-9p%d (%s)", i, sh.Tag)
		dev, err := ninep.New(name, sh.Tag, share, m.log)
		if err != nil {
			return nil, vmm.Configf("shares[%d].tag: %v", i, err)
		}
		specs = append(specs, r.virtioSpec(name, dev))
	}
	return specs, nil
}

// openVsock opens /dev/vhost-vsock and claims the guest's CID, when the
// spec gives one, and describes the virtio-vsock device.
func (m *Machine) openVsock(r *resolved) ([]vmm.DeviceSpec, error) {
	if r.spec.VsockCID == 0 {
		return nil, nil
	}
	name := fmt.Sprintf("virtio-vsock (CID %d)", r.spec.VsockCID)
	dev, err := vsock.New(name, r.spec.VsockCID, m.log)
	if err != nil {
		return nil, err
	}
	m.backends = append(m.backends, dev)
	return []vmm.DeviceSpec{r.virtioSpec(name, dev)}, nil
}
