package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// With hostile.mode=pci the hostile guest attacks gokvm's virtio-pci
// transport (pci_steps.go): it walks the host bridge's configuration
// space (ECAM, bus 0) through /dev/mem, finds the virtio functions, and
// writes what it likes to their configuration space, BARs, MSI-X tables
// and virtio structures. The machine it expects: --virtio-transport pci
// with an MSI controller, the scratch and golden disks as the first two
// functions, two vcpus, and iomem=relaxed on the kernel command line
// (the kernel's host bridge driver holds ECAM busy, and /dev/mem maps
// nothing a driver holds without it).

// Where gokvm puts the host bridge (docs/machine.md, kvmtool's layout).
const (
	ecamBase   = 0x4000_0000
	ecamSlot   = 0x8000 // a device number's 8 functions, 4 KiB each
	ecamSlots  = 32
	pciMemBase = 0x5000_0000
	pciMemSize = 0x3000_0000
	// barStride is where the legal placement puts each function's
	// BARs: BAR 0 at pciMemBase + n*barStride, BAR 1 half a stride on.
	barStride = 0x10_0000
	// pciMapped is how much of the memory window is mapped here: the
	// legal places of eight functions.
	pciMapped = 8 * barStride
)

// Configuration space (PCI Local Bus 3.0, 6.1).
const (
	cfgVendor   = 0x00
	cfgDevice   = 0x02
	cfgCommand  = 0x04
	cfgBAR0     = 0x10
	cfgCapPtr   = 0x34
	cfgSize     = 0x100
	cmdMemory   = 1 << 1
	cmdMaster   = 1 << 2
	capMSIX     = 0x11
	capVendor   = 0x09
	msixEnable  = 1 << 15
	msixMaskAll = 1 << 14
	vendorVirt  = 0x1af4
	pciCfgType  = 5 // the virtio PCI_CFG capability's cfg_type
	// virtioPCIBlk is a modern virtio-blk function's device ID (0x1040
	// plus the device type, virtio 1.2, 4.1.2.1).
	virtioPCIBlk = 0x1042
)

// BAR 0's virtio structures as gokvm lays them out (docs/machine.md), and
// the common configuration's fields (struct virtio_pci_common_cfg,
// virtio 1.2, 4.1.4.3).
const (
	barCommon = 0x0000
	barISR    = 0x1000
	barDevCfg = 0x2000
	barNotify = 0x3000
	barRegs   = 0x4000
	bar1Off   = barStride / 2

	ccDevFeatSel  = 0x00
	ccDevFeat     = 0x04
	ccDrvFeatSel  = 0x08
	ccDrvFeat     = 0x0c
	ccConfigMSIX  = 0x10
	ccNumQueues   = 0x12
	ccStatus      = 0x14
	ccQueueSel    = 0x16
	ccQueueSize   = 0x18
	ccQueueMSIX   = 0x1a
	ccQueueEnable = 0x1c
	ccQueueDesc   = 0x20
	ccQueueDriver = 0x28
	ccQueueDevice = 0x30
	ccLen         = 0x40
)

// mmio is device memory mapped from /dev/mem, accessed with single
// naturally aligned loads and stores that KVM can decode (a Device
// mapping faults on anything unaligned).
type mmio []byte

func (m mmio) r(off, n int) uint64 {
	p := unsafe.Pointer(&m[off])
	switch n {
	case 1:
		return uint64(load8((*uint8)(p)))
	case 2:
		return uint64(load16((*uint16)(p)))
	case 4:
		return uint64(atomic.LoadUint32((*uint32)(p)))
	}
	return atomic.LoadUint64((*uint64)(p))
}

func (m mmio) w(off, n int, v uint64) {
	p := unsafe.Pointer(&m[off])
	switch n {
	case 1:
		store8((*uint8)(p), uint8(v))
	case 2:
		store16((*uint16)(p), uint16(v))
	case 4:
		atomic.StoreUint32((*uint32)(p), uint32(v))
	default:
		atomic.StoreUint64((*uint64)(p), v)
	}
}

// Byte and halfword accesses go through functions of their own, so that
// each is one LDRB/STRB/LDRH/STRH without writeback (which KVM decodes).
//
//go:noinline
func load8(p *uint8) uint8 { return *p }

//go:noinline
func store8(p *uint8, v uint8) { *p = v }

//go:noinline
func load16(p *uint16) uint16 { return *p }

//go:noinline
func store16(p *uint16, v uint16) { *p = v }

// mapPhys maps size bytes of physical address space at pa.
func mapPhys(pa, size int64) (mmio, error) {
	fd, err := unix.Open("/dev/mem", unix.O_RDWR|unix.O_SYNC, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/mem: %v", err)
	}
	defer unix.Close(fd)
	b, err := unix.Mmap(fd, pa, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		// A range a driver holds busy (ECAM) needs iomem=relaxed.
		return nil, fmt.Errorf("mmap /dev/mem at %#x: %v", pa, err)
	}
	return b, nil
}

// pciFn is one virtio function: its configuration space, where its BARs
// go when placed legally, and the driver-side state of its queue 0.
type pciFn struct {
	name    string
	slot    int
	cfg     mmio // function 0's 4 KiB of ECAM
	regs    mmio // BAR 0 at its legal place
	table   mmio // BAR 1 (the MSI-X table) at its legal place
	msixCap int  // 0: none
	pciCfg  int  // the PCI_CFG capability, 0: none
	vectors int
	q       *dev // queue 0's ring and a virtio-blk request's buffers
}

func (f *pciFn) bar0() uint64 { return pciMemBase + uint64(f.slot)*barStride }
func (f *pciFn) bar1() uint64 { return f.bar0() + bar1Off }

// probePCI finds the virtio-blk functions on bus 0.
func probePCI(a *arena) ([]*pciFn, mmio, error) {
	ecam, err := mapPhys(ecamBase, ecamSlots*ecamSlot)
	if err != nil {
		return nil, nil, err
	}
	win, err := mapPhys(pciMemBase, pciMapped)
	if err != nil {
		return nil, nil, err
	}
	var fns []*pciFn
	for slot := 0; slot < ecamSlots; slot++ {
		cfg := ecam[slot*ecamSlot : slot*ecamSlot+0x1000]
		if cfg.r(cfgVendor, 2) != vendorVirt {
			continue
		}
		if id := cfg.r(cfgDevice, 2); id != virtioPCIBlk {
			fmt.Printf("HOSTILE-PCI device %d is virtio device %#x, not a disk: left alone\n", slot, id)
			continue
		}
		if slot >= pciMapped/barStride {
			return nil, nil, fmt.Errorf("a virtio function at device %d, past the %d placed here", slot, pciMapped/barStride)
		}
		f := &pciFn{name: fmt.Sprintf("fn%d", slot), slot: slot, cfg: cfg,
			regs:  win[slot*barStride : slot*barStride+barRegs],
			table: win[slot*barStride+bar1Off : slot*barStride+bar1Off+pageSize]}
		f.findCaps()
		q := &dev{name: f.name}
		if q.ring, err = a.take(2); err != nil {
			return nil, nil, err
		}
		if q.req, err = a.take(1); err != nil {
			return nil, nil, err
		}
		d, err := a.take(1)
		if err != nil {
			return nil, nil, err
		}
		q.data = []region{d}
		f.q = q
		fmt.Printf("HOSTILE-PCI %s device=%#x msix=%#x vectors=%d pcicfg=%#x\n",
			f.name, cfg.r(cfgDevice, 2), f.msixCap, f.vectors, f.pciCfg)
		fns = append(fns, f)
	}
	return fns, ecam, nil
}

// findCaps walks the capability list (at most 48 entries: a hostile
// list may loop).
func (f *pciFn) findCaps() {
	off := int(f.cfg.r(cfgCapPtr, 1)) &^ 3
	for i := 0; i < 48 && off >= 0x40 && off < cfgSize; i++ {
		switch f.cfg.r(off, 1) {
		case capMSIX:
			f.msixCap = off
			f.vectors = int(f.cfg.r(off+2, 2)&0x7ff) + 1
		case capVendor:
			if f.cfg.r(off+3, 1) == pciCfgType {
				f.pciCfg = off
			}
		}
		off = int(f.cfg.r(off+1, 1)) &^ 3
	}
}

// place puts the BARs at their legal places and enables memory decoding
// and bus mastering, MSI-X disabled.
func (f *pciFn) place() {
	f.cfg.w(cfgCommand, 2, 0)
	for i := 0; i < 6; i++ {
		f.cfg.w(cfgBAR0+4*i, 4, 0)
	}
	f.cfg.w(cfgBAR0, 4, f.bar0())
	f.cfg.w(cfgBAR0+4, 4, f.bar1())
	if f.msixCap != 0 {
		f.cfg.w(f.msixCap+2, 2, 0)
	}
	f.cfg.w(cfgCommand, 2, cmdMemory|cmdMaster)
}

// status writes the device status.
func (f *pciFn) status(v uint8) { f.regs.w(ccStatus, 1, uint64(v)) }

// queueAt sets the selected queue's ring addresses.
func (f *pciFn) queueAt(desc, avail, used uint64) {
	for _, a := range []struct {
		off int
		v   uint64
	}{{ccQueueDesc, desc}, {ccQueueDriver, avail}, {ccQueueDevice, used}} {
		f.regs.w(a.off, 4, a.v&0xffffffff)
		f.regs.w(a.off+4, 4, a.v>>32)
	}
}

// setup is what a driver does: reset, VERSION_1, queue 0 at the
// function's own ring with the given MSI-X vector, DRIVER_OK.
func (f *pciFn) setup(vector uint16) error {
	f.status(0)
	clear(f.q.ring.b)
	f.q.nextAvail, f.q.lastUsed = 0, 0
	f.status(stAck)
	f.status(stAck | stDriver)
	f.regs.w(ccDevFeatSel, 4, 1)
	if f.regs.r(ccDevFeat, 4)&1 == 0 {
		return fmt.Errorf("%s: no VERSION_1", f.name)
	}
	f.regs.w(ccDrvFeatSel, 4, 0)
	f.regs.w(ccDrvFeat, 4, 0)
	f.regs.w(ccDrvFeatSel, 4, 1)
	f.regs.w(ccDrvFeat, 4, 1)
	f.status(stAck | stDriver | stFeaturesOK)
	if s := f.regs.r(ccStatus, 1); s&stFeaturesOK == 0 {
		return fmt.Errorf("%s: FEATURES_OK not accepted (status %#x)", f.name, s)
	}
	f.regs.w(ccQueueSel, 2, 0)
	if max := f.regs.r(ccQueueSize, 2); max < queueSize {
		return fmt.Errorf("%s: queue 0 holds %d", f.name, max)
	}
	f.regs.w(ccQueueSize, 2, queueSize)
	f.regs.w(ccQueueMSIX, 2, uint64(vector))
	f.queueAt(f.q.descPA(), f.q.availPA(), f.q.usedPA())
	f.regs.w(ccQueueEnable, 2, 1)
	f.status(stAck | stDriver | stFeaturesOK | stDriverOK)
	if s := f.regs.r(ccStatus, 1); s&stDriverOK == 0 || s&stNeedsReset != 0 {
		return fmt.Errorf("%s: status %#x after DRIVER_OK", f.name, s)
	}
	return nil
}

// read submits a read of sector 0 into the function's data page, asking
// for an interrupt when interrupt says so, rings the doorbell and waits
// up to timeout for it to be used.
func (f *pciFn) read(interrupt bool, timeout time.Duration) int {
	f.q.submit(f.q.readChain(0, 1))
	if interrupt {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&f.q.ring.b[16*queueSize])), uint32(f.q.nextAvail)<<16)
	}
	f.regs.w(barNotify, 2, 0)
	deadline := time.Now().Add(timeout)
	for {
		got := int(f.q.usedIdx() - f.q.lastUsed)
		if got >= 1 || time.Now().After(deadline) {
			f.q.lastUsed += uint16(got)
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// legalRead puts the function back the way a driver has it (after a
// reset) and reads sector 0.
func (f *pciFn) legalRead() (status byte, used int, sum string, err error) {
	f.place()
	if err := f.setup(0xffff); err != nil {
		return 0, 0, "", err
	}
	used = f.read(false, 5*time.Second)
	h := sha256.Sum256(f.q.data[0].b)
	st := f.q.status()
	f.status(0)
	clear(f.q.ring.b)
	return st, used, hex.EncodeToString(h[:]), nil
}

// msiDoorbell is where the machine's MSI controller takes messages, from
// the device tree: an ITS's GITS_TRANSLATER, a GICv2m frame's
// MSI_SETSPI_NS. 0 when there is none.
func msiDoorbell() (addr uint64, kind string) {
	var found uint64
	filepath.Walk("/sys/firmware/devicetree/base", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.Name() != "compatible" || found != 0 {
			return nil
		}
		c, _ := os.ReadFile(p)
		reg, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "reg"))
		if len(reg) < 8 {
			return nil
		}
		base := binary.BigEndian.Uint64(reg)
		switch {
		case strings.Contains(string(c), "arm,gic-v3-its"):
			found, kind = base+0x1_0040, "its"
		case strings.Contains(string(c), "arm,gic-v2m-frame"):
			found, kind = base+0x40, "v2m"
		}
		return nil
	})
	return found, kind
}
