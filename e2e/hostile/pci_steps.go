package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The virtio-pci attacks. Every random value comes from the seed printed
// on HOSTILE-SEED (hostile.seed= on the command line chooses it), so a
// run's values can be had again; which vcpu wins a race cannot.
//
// The device may be made to read and write the rings wherever the steps
// put them, so they are only ever outside RAM or in pages of the
// guest's own that the device cannot turn into requests: a descriptor
// table and an available ring that stay zero (no request is ever
// available), and a used ring page the device may scribble on. Nothing
// else in RAM is the device's to write.

const defaultPCISeed = 20261206

// pciAttack is what the steps share.
type pciAttack struct {
	fns  []*pciFn
	ecam mmio
	// doorbell is the MSI controller's doorbell (0: none found).
	doorbell uint64
	kind     string
	// junkDesc and junkAvail stay zero; junkUsed is the device's.
	junkDesc, junkAvail, junkUsed region
}

type pciStep struct {
	name string
	run  func(p *pciAttack, rnd *rand.Rand) error
}

var pciSteps = []pciStep{
	{"pci-config-random", stepPCIConfigRandom},
	{"pci-bars-wild", stepPCIBarsWild},
	{"pci-msix-random", stepPCIMSIXRandom},
	{"pci-common-random", stepPCICommonRandom},
	{"pci-notify-random", stepPCINotifyRandom},
	{"pci-isr-devcfg", stepPCIISRDevCfg},
	{"pci-pcicfg", stepPCIPCICfg},
	{"pci-two-vcpus", stepPCITwoVcpus},
}

func runPCI() error {
	seed := uint64(defaultPCISeed)
	if v, ok := param("hostile.seed"); ok {
		s, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			return fmt.Errorf("hostile.seed=%s: %v", v, err)
		}
		seed = s
	}
	fmt.Printf("HOSTILE-SEED %d\n", seed)
	a, err := newArena(256)
	if err != nil {
		return err
	}
	fns, ecam, err := probePCI(a)
	if err != nil {
		return err
	}
	if len(fns) < 2 {
		return fmt.Errorf("%d virtio functions on bus 0, want the scratch and golden disks", len(fns))
	}
	fns[0].name, fns[1].name = "scratch", "golden"
	p := &pciAttack{fns: fns, ecam: ecam}
	p.doorbell, p.kind = msiDoorbell()
	fmt.Printf("HOSTILE-PCI doorbell=%#x kind=%s\n", p.doorbell, p.kind)
	for _, r := range []*region{&p.junkDesc, &p.junkAvail, &p.junkUsed} {
		if *r, err = a.take(1); err != nil {
			return err
		}
	}
	only := chosen()
	for i, s := range pciSteps {
		if only != nil && !only[s.name] {
			continue
		}
		fmt.Printf("HOSTILE-STEP %s start\n", s.name)
		if err := s.run(p, rand.New(rand.NewPCG(seed, uint64(i)))); err != nil {
			fmt.Printf("HOSTILE-ERROR %s: %v\n", s.name, err)
		}
		for _, f := range fns {
			fmt.Printf("HOSTILE-STATUS %s %s command=%#x bar0=%#x\n", s.name, f.name, f.cfg.r(cfgCommand, 2), f.cfg.r(cfgBAR0, 4))
		}
		fmt.Printf("HOSTILE-STEP %s done\n", s.name)
	}
	// A reset makes each function usable again, whatever came before.
	for _, f := range fns {
		st, used, sum, err := f.legalRead()
		if err != nil {
			fmt.Printf("HOSTILE-ERROR read after %s: %v\n", f.name, err)
			continue
		}
		fmt.Printf("HOSTILE-READ after %s status=%d used=%d sha=%s\n", f.name, st, used, sum)
	}
	return nil
}

// pick is one of vs.
func pick[T any](rnd *rand.Rand, vs ...T) T { return vs[rnd.IntN(len(vs))] }

// width is an access width, and off a random offset in [0, n) aligned to
// it.
func width(rnd *rand.Rand) int             { return pick(rnd, 1, 2, 4, 8) }
func aligned(rnd *rand.Rand, n, w int) int { return rnd.IntN(n) &^ (w - 1) }

// wildAddrs are addresses a device must not use: 0, all-ones, below RAM
// (the GIC, the memory window), past it, straddling its end.
func wildAddrs(doorbell uint64) []uint64 {
	return []uint64{0, 0xffff_ffff_ffff_f000, 0xffff_ffff, 0x3fff_0000, doorbell &^ 0xfff, pciMemBase,
		0x7fff_f000, ramBase + ramSize - 8, ramBase + ramSize, 0x1_0000_0000}
}

// commonValue is a value for a write of n bytes at off in the common
// configuration: anything but for the ring addresses, which are wild
// or in the junk pages.
func (p *pciAttack) commonValue(rnd *rand.Rand, off, n int) uint64 {
	var page uint64
	switch {
	case off >= ccQueueDesc && off < ccQueueDriver:
		page = p.junkDesc.pa
	case off >= ccQueueDriver && off < ccQueueDevice:
		page = p.junkAvail.pa
	case off >= ccQueueDevice && off < ccQueueDevice+8:
		page = p.junkUsed.pa
	case off == ccQueueSel:
		return pick(rnd, 0, 1, 2, 0x7fff, 0xffff, rnd.Uint64())
	case off == ccQueueSize:
		return pick(rnd, 0, 1, 5, 127, 128, 129, 0x8000, 0xffff, rnd.Uint64())
	case off == ccStatus:
		return pick(rnd, 0, 1, 2, 4, 8, 0x40, 0x80, 0x0f, 0xff, rnd.Uint64())
	default:
		return pick(rnd, 0, 1, 0xffff, 0xffff_ffff, rnd.Uint64())
	}
	// A junk page misaligned, but never across its end: the page after
	// it is not the guest's to give.
	addr := pick(rnd, append(wildAddrs(p.doorbell), page, page, page+2)...)
	if off%8 == 4 {
		return addr >> 32 // the high half alone
	}
	return addr
}

// randomCommon makes a random access to the common configuration.
func (p *pciAttack) randomCommon(rnd *rand.Rand, f *pciFn) {
	w := width(rnd)
	off := aligned(rnd, ccLen, w)
	if rnd.IntN(3) == 0 {
		f.regs.r(off, w)
		return
	}
	f.regs.w(off, w, p.commonValue(rnd, off, w))
}

// randomMSIX writes a random MSI-X table dword or qword, or the
// capability's control word.
func (p *pciAttack) randomMSIX(rnd *rand.Rand, f *pciFn) {
	if f.msixCap != 0 && rnd.IntN(4) == 0 {
		f.cfg.w(f.msixCap+2, 2, pick(rnd, 0, msixEnable, msixEnable|msixMaskAll, msixMaskAll, rnd.Uint64()))
		return
	}
	w := pick(rnd, 1, 2, 4, 8, 4, 4)
	off := aligned(rnd, pageSize, w)
	if rnd.IntN(2) == 0 {
		off = aligned(rnd, 16*max(f.vectors, 1), w) // inside the table
	}
	var v uint64
	switch off % 16 {
	case 0:
		v = pick(rnd, p.doorbell, p.doorbell, ramBase+0x1000, 0x1_0000_0000, 0x0900_0000, 0, rnd.Uint64())
		if w == 4 {
			v &= 0xffff_ffff
		}
	case 4:
		v = pick(rnd, 0, 1, rnd.Uint64())
	case 8:
		v = pick(rnd, uint64(rnd.IntN(64)+192), uint64(rnd.IntN(1<<16)), 0xffff_ffff, rnd.Uint64())
	default:
		v = pick(rnd, 0, 1, rnd.Uint64())
	}
	if rnd.IntN(3) == 0 {
		f.table.r(off, w)
		return
	}
	f.table.w(off, w, v)
}

// stepPCIConfigRandom writes random values to every configuration
// dword of each function, then random widths at random offsets of its
// 4 KiB (the extended space too), and of absent device numbers.
func stepPCIConfigRandom(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-config-random"
	for round := 0; round < 16; round++ {
		for _, f := range p.fns {
			for off := 0; off < cfgSize; off += 4 {
				f.cfg.w(off, 4, rnd.Uint64())
			}
			for i := 0; i < 64; i++ {
				w := width(rnd)
				off := aligned(rnd, pageSize, w)
				if rnd.IntN(2) == 0 {
					off = aligned(rnd, cfgSize, w)
				}
				f.cfg.r(off, w)
				f.cfg.w(off, w, rnd.Uint64())
			}
			if f.msixCap != 0 {
				f.cfg.w(f.msixCap+2, 2, pick[uint64](rnd, msixEnable, msixEnable|msixMaskAll, 0xffff))
			}
		}
	}
	for _, slot := range []int{7, 31} {
		cfg := p.ecam[slot*ecamSlot:]
		cfg.w(cfgCommand, 2, 0xffff)
		cfg.w(cfgBAR0, 4, pciMemBase)
		note(name, "absent device %d: vendor reads %#x", slot, cfg.r(cfgVendor, 2))
	}
	for _, f := range p.fns {
		note(name, "%s: vendor %#x command %#x BARs %#x %#x capabilities at %#x", f.name,
			f.cfg.r(cfgVendor, 2), f.cfg.r(cfgCommand, 2), f.cfg.r(cfgBAR0, 4), f.cfg.r(cfgBAR0+4, 4), f.cfg.r(cfgCapPtr, 1))
		f.place()
	}
	return nil
}

// stepPCIBarsWild puts the BARs where they cannot be (over RAM, the GIC,
// ECAM, 0, all-ones, over each other and the other function's) with
// memory decoding on, and reads where they should be.
func stepPCIBarsWild(p *pciAttack, _ *rand.Rand) error {
	const name = "pci-bars-wild"
	for i, f := range p.fns {
		other := p.fns[(i+1)%len(p.fns)]
		cases := []struct {
			what       string
			bar0, bar1 uint64
		}{
			{"0", 0, 0},
			{"all-ones", 0xffff_ffff, 0xffff_ffff},
			{"over RAM", ramBase, ramBase + 0x10_0000},
			{"over the GIC", 0x3fff_0000, p.doorbell &^ 0xfff},
			{"over ECAM", ecamBase, ecamBase + ecamSlot},
			{"over the UART and virtio-mmio", 0x0100_0000, 0x0300_0000},
			{"at the window's end", pciMemBase + pciMemSize - barRegs, pciMemBase + pciMemSize - pageSize},
			{"over each other", f.bar0(), f.bar0()},
			{"over the other function's", other.bar0(), other.bar1()},
		}
		for _, c := range cases {
			f.cfg.w(cfgCommand, 2, cmdMemory|cmdMaster)
			f.cfg.w(cfgBAR0, 4, c.bar0)
			f.cfg.w(cfgBAR0+4, 4, c.bar1)
			f.cfg.w(cfgCommand, 2, 0)
			f.cfg.w(cfgCommand, 2, cmdMemory)
			note(name, "%s: BARs %s: read back %#x %#x; the legal place's num_queues %d, other's %d", f.name, c.what,
				f.cfg.r(cfgBAR0, 4), f.cfg.r(cfgBAR0+4, 4), f.regs.r(ccNumQueues, 2), other.regs.r(ccNumQueues, 2))
		}
		f.place()
		note(name, "%s: placed again: num_queues %d", f.name, f.regs.r(ccNumQueues, 2))
	}
	return nil
}

// stepPCIMSIXRandom enables MSI-X and fills the tables with random
// messages (the MSI controller's doorbell with random data, RAM,
// unmapped space), unmasks, and makes the devices send: reads that
// complete on random vectors, and queues that need a reset.
func stepPCIMSIXRandom(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-msix-random"
	p.doorbellFromCPU(rnd)
	for _, f := range p.fns {
		if f.msixCap == 0 {
			return fmt.Errorf("%s has no MSI-X capability", f.name)
		}
		completed := 0
		for round := 0; round < 24; round++ {
			f.place()
			f.cfg.w(f.msixCap+2, 2, msixEnable|msixMaskAll)
			for i := 0; i < 4*f.vectors+8; i++ {
				p.randomMSIX(rnd, f)
			}
			for v := 0; v < f.vectors; v++ {
				f.table.w(16*v+12, 4, pick[uint64](rnd, 0, 0, 1))
			}
			f.cfg.w(f.msixCap+2, 2, pick[uint64](rnd, msixEnable, msixEnable, msixEnable|msixMaskAll))
			vector := pick(rnd, 0, 1, uint16(f.vectors), 0xffff, uint16(rnd.Uint32()))
			if err := f.setup(vector); err != nil {
				return err
			}
			f.regs.w(ccConfigMSIX, 2, uint64(pick(rnd, 0, 1, uint16(rnd.Uint32()))))
			completed += f.read(true, 200*time.Millisecond)
			f.table.w(16*rnd.IntN(f.vectors)+12, 4, 0) // a pending vector unmasked
			f.cfg.w(f.msixCap+2, 2, msixEnable)
			// A queue outside RAM: the device needs a reset, a
			// configuration change.
			f.status(0)
			f.status(stAck | stDriver)
			f.regs.w(ccDrvFeatSel, 4, 1)
			f.regs.w(ccDrvFeat, 4, 1)
			f.status(stAck | stDriver | stFeaturesOK)
			f.regs.w(ccQueueSel, 2, 0)
			f.queueAt(0x1_0000_0000, p.junkAvail.pa, p.junkUsed.pa)
			f.regs.w(ccQueueEnable, 2, 1)
			f.regs.w(ccConfigMSIX, 2, uint64(rnd.IntN(f.vectors+1))) // the reset took the vector away
			f.status(stAck | stDriver | stFeaturesOK | stDriverOK)
			f.regs.w(barNotify, 2, 0)
			time.Sleep(5 * time.Millisecond)
			f.regs.r(barISR, 1)
			f.status(0)
		}
		note(name, "%s: %d of 24 reads completed with MSI-X on; PBA %#x", f.name, completed, f.table.r((16*f.vectors+7)&^7, 8))
		f.place()
	}
	return nil
}

// stepPCICommonRandom drives the common configuration at random: queue
// selects out of range, sizes 0, odd and huge, rings outside RAM,
// enables, device status bits in any order.
func stepPCICommonRandom(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-common-random"
	for _, f := range p.fns {
		f.place()
		for i := 0; i < 3000; i++ {
			p.randomCommon(rnd, f)
		}
		// Status bits one by one in a random order, twice.
		bits := []uint8{stAck, stDriver, stFeaturesOK, stDriverOK, stNeedsReset, 0x80}
		for round := 0; round < 2; round++ {
			var s uint8
			for _, j := range rnd.Perm(len(bits)) {
				s |= bits[j]
				f.status(s)
				f.regs.w(barNotify, 2, 0)
			}
		}
		note(name, "%s: status %#x queue_select %#x queue_size %d", f.name,
			f.regs.r(ccStatus, 1), f.regs.r(ccQueueSel, 2), f.regs.r(ccQueueSize, 2))
		f.status(0)
	}
	return nil
}

// stepPCINotifyRandom rings the doorbell page at random offsets and
// widths, with a queue running on junk rings and with none, and writes
// the rest of BAR 0 where nothing is.
func stepPCINotifyRandom(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-notify-random"
	for _, f := range p.fns {
		f.place()
		for round := 0; round < 2; round++ {
			if round == 1 {
				f.status(stAck | stDriver | stFeaturesOK)
				f.regs.w(ccQueueSel, 2, 0)
				f.queueAt(p.junkDesc.pa, p.junkAvail.pa, p.junkUsed.pa)
				f.regs.w(ccQueueEnable, 2, 1)
				f.status(stAck | stDriver | stFeaturesOK | stDriverOK)
			}
			for i := 0; i < 2000; i++ {
				w := width(rnd)
				off := barNotify + aligned(rnd, pageSize, w)
				if rnd.IntN(2) == 0 {
					off = barNotify
				}
				if rnd.IntN(8) == 0 {
					off = aligned(rnd, barRegs, w) // anywhere in BAR 0
					if off < ccLen {
						off = barNotify
					}
				}
				f.regs.w(off, w, pick(rnd, 0, 1, 2, 0xffff, rnd.Uint64()))
			}
		}
		note(name, "%s: status %#x", f.name, f.regs.r(ccStatus, 1))
		f.status(0)
	}
	return nil
}

// stepPCIISRDevCfg reads the ISR status and reads and writes the device
// configuration at random offsets and widths.
func stepPCIISRDevCfg(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-isr-devcfg"
	for _, f := range p.fns {
		f.place()
		for i := 0; i < 2000; i++ {
			w := width(rnd)
			switch rnd.IntN(4) {
			case 0:
				f.regs.r(barISR+aligned(rnd, pageSize, w), w)
			case 1:
				f.regs.w(barISR+aligned(rnd, pageSize, w), w, rnd.Uint64())
			case 2:
				f.regs.r(barDevCfg+aligned(rnd, pageSize, w), w)
			default:
				f.regs.w(barDevCfg+aligned(rnd, pageSize, w), w, rnd.Uint64())
			}
		}
		note(name, "%s: capacity %d sectors", f.name, f.regs.r(barDevCfg, 8))
	}
	return nil
}

// stepPCIPCICfg uses the PCI_CFG capability's window onto the BARs with
// random BAR numbers, offsets, lengths and data.
func stepPCIPCICfg(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-pcicfg"
	for _, f := range p.fns {
		if f.pciCfg == 0 {
			return fmt.Errorf("%s has no PCI_CFG capability", f.name)
		}
		f.place()
		c := f.pciCfg
		for i := 0; i < 2000; i++ {
			bar := pick[uint64](rnd, 0, 0, 1, 2, 5, 6, 0xff)
			length := pick[uint64](rnd, 1, 2, 4, 0, 3, 8, 0xffff_ffff)
			off := pick(rnd, uint64(rnd.IntN(barRegs)), uint64(rnd.IntN(ccLen)), barNotify, barISR,
				uint64(rnd.IntN(pageSize)), barRegs-1, 0xffff_ffff, uint64(rnd.Uint32()))
			if length <= 4 && length > 0 {
				off &^= length - 1
			}
			f.cfg.w(c+4, 1, bar)
			f.cfg.w(c+8, 4, off)
			f.cfg.w(c+12, 4, length)
			if rnd.IntN(2) == 0 {
				f.cfg.r(c+16, pick(rnd, 1, 2, 4))
				continue
			}
			v := rnd.Uint64()
			if bar == 0 && off < ccLen && length <= 8 {
				v = p.commonValue(rnd, int(off), int(length))
			}
			f.cfg.w(c+16, 4, v)
		}
		note(name, "%s: status %#x", f.name, f.regs.r(ccStatus, 1))
		f.status(0)
		// No BAR, so that a stray write of pci_cfg_data later reaches
		// nothing.
		f.cfg.w(c+4, 1, 0xff)
	}
	return nil
}

// stepPCITwoVcpus does all of it from two threads pinned to CPU 0 and
// CPU 1 at once for two seconds: configuration writes, BARs moved and
// decoding toggled, MSI-X tables, the common configuration, doorbells.
func stepPCITwoVcpus(p *pciAttack, rnd *rand.Rand) error {
	const name = "pci-two-vcpus"
	seeds := []uint64{rnd.Uint64(), rnd.Uint64()}
	rnds := []*rand.Rand{rand.New(rand.NewPCG(seeds[0], 0)), rand.New(rand.NewPCG(seeds[1], 1))}
	counts, err := onBothCPUs(2*time.Second, func(cpu int) { p.randomAccess(rnds[cpu]) })
	if err != nil {
		return err
	}
	note(name, "cpu0 %d accesses, cpu1 %d accesses", counts[0], counts[1])
	for _, f := range p.fns {
		f.place()
		f.status(0)
	}
	return nil
}

// doorbellFromCPU writes random messages to the MSI controller's
// doorbell from a vcpu, as no device does: KVM's ITS or gokvm's GICv2m
// frame must take them as nothing.
func (p *pciAttack) doorbellFromCPU(rnd *rand.Rand) {
	const name = "pci-msix-random"
	if p.doorbell == 0 {
		return
	}
	page := int64(p.doorbell &^ (pageSize - 1))
	m, err := mapPhys(page, pageSize)
	if err != nil {
		// The kernel's driver may keep the frame to itself.
		note(name, "the doorbell's page is not to be had: %v", err)
		return
	}
	defer unix.Munmap(m)
	for i := 0; i < 64; i++ {
		m.w(int(int64(p.doorbell)-page), 4, pick(rnd, uint64(rnd.IntN(64)+192), rnd.Uint64()))
	}
	note(name, "64 messages written to the doorbell from a vcpu")
}

// randomAccess is one access of any kind to a random function: its
// configuration space (the BARs moved, decoding toggled, placed again),
// MSI-X table, common configuration, doorbell or ISR.
func (p *pciAttack) randomAccess(r *rand.Rand) {
	f := pick(r, p.fns...)
	switch r.IntN(8) {
	case 0:
		off := aligned(r, cfgSize, 4)
		if off == cfgBAR0 || off == cfgBAR0+4 {
			f.cfg.w(off, 4, pick(r, f.bar0(), f.bar1(), pick(r, p.fns...).bar0(), 0, 0xffff_ffff, r.Uint64()))
		} else {
			f.cfg.w(off, 4, r.Uint64())
		}
	case 1:
		f.cfg.w(cfgCommand, 2, pick[uint64](r, 0, cmdMemory, cmdMemory|cmdMaster, 0xffff))
	case 2:
		f.place()
	case 3:
		p.randomMSIX(r, f)
	case 4, 5:
		p.randomCommon(r, f)
	case 6:
		f.regs.w(barNotify, 2, pick[uint64](r, 0, 1, 0xffff))
	default:
		f.regs.r(barISR, 1)
	}
}
