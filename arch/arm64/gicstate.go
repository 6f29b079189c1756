package arm64

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// The in-kernel GIC's saved state is its registers as KVM's device
// attributes give them to user space (Documentation/virt/kvm/devices/
// arm-vgic-v3.rst and arm-vgic.rst): the distributor's, each vcpu's
// redistributor and CPU interface (GICv3) or banked distributor and CPU
// interface registers (GICv2), and the line level of each shared
// interrupt (GICv3). Each is saved as (attribute group, attribute, value)
// and restored in the order saved, into a GIC just made and initialised
// for the same number of vcpus: a fresh GIC has nothing enabled, pending
// or active, so writing the set-registers (ISENABLER, ISPENDR,
// ISACTIVER) with the saved bits makes them what they were. The order is
// QEMU's (arm_gicv3_kvm.c), the most careful of the VMMs that restore a
// GIC: the implementer register first (GICv2 takes group writes only
// after it), the distributor's control, then targets and configuration
// before the line levels, and those before the pending bits.
//
// Layout, little-endian: u32 version, u32 GIC version, u32 count, then
// count times u32 group, u64 attribute, u8 width (4 or 8), the value.

const gicStateVersion = 1

// VGIC attribute groups (asm/kvm.h).
const (
	vgicGrpDistRegs    = 1
	vgicGrpCPURegs     = 2 // GICv2
	vgicGrpRedistRegs  = 5 // GICv3
	vgicGrpCPUSysregs  = 6 // GICv3
	vgicGrpLevelInfo   = 7 // GICv3
	vgicCtrlSavePend   = 3 // KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES
	vgicLevelInfoShift = 10
)

// gicReg is one saved register.
type gicReg struct {
	group uint32
	attr  uint64
	width uint8
	value uint64
}

// Distributor registers of one bit, two bits and eight bits per interrupt,
// saved for every interrupt the GIC has from first.
type perIRQ struct {
	offset uint64
	bits   int
}

// GICv3 distributor: the shared interrupts' registers (the private ones
// are the redistributors'), GICD_IROUTER 64 bits per interrupt from 32.
var (
	v3DistConfig = []perIRQ{
		{0x0080, 1}, // GICD_IGROUPR
		{0x0100, 1}, // GICD_ISENABLER
	}
	v3DistState = []perIRQ{
		{0x0200, 1}, // GICD_ISPENDR
		{0x0300, 1}, // GICD_ISACTIVER
		{0x0400, 8}, // GICD_IPRIORITYR
	}
)

const (
	gicdCTLR    = 0x0000
	gicdIIDR    = 0x0008
	gicdICFGR   = 0x0c00
	gicdIROUTER = 0x6000
)

// GICv3 redistributor registers of one vcpu: the RD frame's, then the SGI
// frame's (64 KiB on) for the private interrupts.
type redistReg struct {
	offset uint64
	width  uint8
}

var (
	v3RedistConfig = []redistReg{
		{0x0070, 8},  // GICR_PROPBASER
		{0x0078, 8},  // GICR_PENDBASER
		{0x0000, 4},  // GICR_CTLR (after the bases: EnableLPIs)
		{0x10080, 4}, // GICR_IGROUPR0
		{0x10100, 4}, // GICR_ISENABLER0
		{0x10c04, 4}, // GICR_ICFGR1 (ICFGR0, the SGIs', is fixed)
	}
	// After the private interrupts' line levels.
	v3RedistState = []redistReg{
		{0x10200, 4},                                           // GICR_ISPENDR0
		{0x10300, 4},                                           // GICR_ISACTIVER0
		{0x10400, 4}, {0x10404, 4}, {0x10408, 4}, {0x1040c, 4}, // GICR_IPRIORITYR0-7
		{0x10410, 4}, {0x10414, 4}, {0x10418, 4}, {0x1041c, 4},
	}
)

// GICv3 CPU interface system registers (op0, op1, CRn, CRm, op2), in the
// order a restore writes them; the active priority registers follow, as
// many as ICC_CTLR_EL1's PRIbits say the CPU interface has.
func iccReg(op0, op1, crn, crm, op2 uint64) uint64 {
	return op0<<14 | op1<<11 | crn<<7 | crm<<3 | op2
}

var (
	iccSRE     = iccReg(3, 0, 12, 12, 5)
	iccCTLR    = iccReg(3, 0, 12, 12, 4)
	iccIGRPEN0 = iccReg(3, 0, 12, 12, 6)
	iccIGRPEN1 = iccReg(3, 0, 12, 12, 7)
	iccPMR     = iccReg(3, 0, 4, 6, 0)
	iccBPR0    = iccReg(3, 0, 12, 8, 3)
	iccBPR1    = iccReg(3, 0, 12, 12, 3)
)

func iccAP0R(n uint64) uint64 { return iccReg(3, 0, 12, 8, 4+n) }
func iccAP1R(n uint64) uint64 { return iccReg(3, 0, 12, 9, n) }

// GICv2 CPU interface registers.
var v2CPU = []uint64{
	0x00,                   // GICC_CTLR
	0x04,                   // GICC_PMR
	0x08,                   // GICC_BPR
	0x1c,                   // GICC_ABPR
	0xd0, 0xd4, 0xd8, 0xdc, // GICC_APR0-3
}

// GICv2 distributor registers banked per CPU: the private interrupts'
// words of the per-interrupt registers, and the SGIs' pending bits.
var v2Banked = []uint64{
	0x080, 0x100, 0xc04, // IGROUPR0, ISENABLER0, ICFGR1
	0x200, 0x300, // ISPENDR0, ISACTIVER0
	0x400, 0x404, 0x408, 0x40c, 0x410, 0x414, 0x418, 0x41c, // IPRIORITYR0-7
	0xf20, 0xf24, 0xf28, 0xf2c, // SPENDSGIR0-3
}

// v2Shared are GICv2's per-interrupt registers for the shared
// interrupts: targets and configuration before pending.
var v2Shared = []perIRQ{
	{0x080, 1}, {0x800, 8}, {0xc00, 2}, {0x100, 1}, {0x200, 1}, {0x300, 1}, {0x400, 8},
}

// v3Affinity is the GICv3 attribute's encoding of a vcpu: Aff3..Aff0 in
// bits 63..32.
func v3Affinity(mpidr uint64) uint64 {
	aff := mpidr&0xff_ffff | (mpidr>>32&0xff)<<24
	return aff << 32
}

// save reads every register of the GIC for the vcpus of mpidrs.
func (g *vgic) save(mpidrs []uint64) ([]byte, error) {
	var regs []gicReg
	read := func(group uint32, attr uint64, width uint8) error {
		var v uint64
		var err error
		if width == 8 {
			v, err = g.dev.GetAttrU64(group, attr)
		} else {
			var w uint32
			w, err = g.dev.GetAttrU32(group, attr)
			v = uint64(w)
		}
		if err != nil {
			return fmt.Errorf("reading %s register (group %d, attribute %#x): %w", g.version, group, attr, err)
		}
		regs = append(regs, gicReg{group, attr, width, v})
		return nil
	}
	var err error
	if g.version == GICv3 {
		err = g.saveV3(mpidrs, read)
	} else {
		err = g.saveV2(len(mpidrs), read)
	}
	if err != nil {
		return nil, err
	}
	return encodeGIC(g.version, regs), nil
}

// encodeGIC lays saved registers out as the comment above says.
func encodeGIC(version GICVersion, regs []gicReg) []byte {
	var b bytes.Buffer
	put := func(x any) { binary.Write(&b, binary.LittleEndian, x) }
	put(uint32(gicStateVersion))
	put(uint32(version))
	put(uint32(len(regs)))
	for _, r := range regs {
		put(r.group)
		put(r.attr)
		put(r.width)
		if r.width == 8 {
			put(r.value)
		} else {
			put(uint32(r.value))
		}
	}
	return b.Bytes()
}

func (g *vgic) saveV3(mpidrs []uint64, read func(uint32, uint64, uint8) error) error {
	// LPIs' pending bits go to their tables in guest RAM (none without
	// an ITS, but the call is cheap and makes the RAM file whole).
	if g.dev.HasAttr(vgicGrpCtrl, vgicCtrlSavePend) {
		if err := g.dev.SetAttrNone(vgicGrpCtrl, vgicCtrlSavePend); err != nil {
			return fmt.Errorf("flushing the GICv3's pending tables: %w", err)
		}
	}
	perIRQs := func(rs []perIRQ) error {
		for _, r := range rs {
			for irq := SPIBase; irq < NumIRQs; irq += 32 / r.bits {
				if err := read(vgicGrpDistRegs, r.offset+uint64(irq*r.bits/8), 4); err != nil {
					return err
				}
			}
		}
		return nil
	}
	redist := func(aff uint64, rs []redistReg) error {
		for _, r := range rs {
			// 64-bit registers are two 32-bit accesses.
			for half := uint64(0); half < uint64(r.width); half += 4 {
				if err := read(vgicGrpRedistRegs, aff|(r.offset+half), 4); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, off := range []uint64{gicdIIDR, gicdCTLR} {
		if err := read(vgicGrpDistRegs, off, 4); err != nil {
			return err
		}
	}
	for _, mpidr := range mpidrs {
		aff := v3Affinity(mpidr)
		if err := redist(aff, v3RedistConfig); err != nil {
			return err
		}
		// The private interrupts' line levels (vINTID 0-31).
		if err := read(vgicGrpLevelInfo, aff, 4); err != nil {
			return err
		}
		if err := redist(aff, v3RedistState); err != nil {
			return err
		}
	}
	if err := perIRQs(v3DistConfig); err != nil {
		return err
	}
	for irq := SPIBase; irq < NumIRQs; irq++ {
		for half := uint64(0); half < 8; half += 4 {
			if err := read(vgicGrpDistRegs, gicdIROUTER+uint64(irq)*8+half, 4); err != nil {
				return err
			}
		}
	}
	if err := perIRQs([]perIRQ{{gicdICFGR, 2}}); err != nil {
		return err
	}
	for irq := SPIBase; irq < NumIRQs; irq += 32 {
		if err := read(vgicGrpLevelInfo, uint64(irq), 4); err != nil {
			return err
		}
	}
	if err := perIRQs(v3DistState); err != nil {
		return err
	}
	for _, mpidr := range mpidrs {
		aff := v3Affinity(mpidr)
		for _, sr := range []uint64{iccSRE, iccCTLR, iccIGRPEN0, iccIGRPEN1, iccPMR, iccBPR0, iccBPR1} {
			if err := read(vgicGrpCPUSysregs, aff|sr, 8); err != nil {
				return err
			}
		}
		ctlr, err := g.dev.GetAttrU64(vgicGrpCPUSysregs, aff|iccCTLR)
		if err != nil {
			return fmt.Errorf("reading ICC_CTLR_EL1: %w", err)
		}
		for n := uint64(0); n < apRegs(ctlr); n++ {
			if err := read(vgicGrpCPUSysregs, aff|iccAP0R(n), 8); err != nil {
				return err
			}
			if err := read(vgicGrpCPUSysregs, aff|iccAP1R(n), 8); err != nil {
				return err
			}
		}
	}
	return nil
}

// apRegs is how many ICC_AP0Rn_EL1 (and AP1Rn) the CPU interface has, from
// ICC_CTLR_EL1.PRIbits: 1 for 5 priority bits, 2 for 6, 4 for 7.
func apRegs(ctlr uint64) uint64 {
	switch (ctlr >> 8 & 7) + 1 {
	case 7:
		return 4
	case 6:
		return 2
	}
	return 1
}

// v2CPUAttr is the GICv2 attribute's encoding of a CPU: bits 39..32.
func v2CPUAttr(cpu int) uint64 { return uint64(cpu) << 32 }

func (g *vgic) saveV2(cpus int, read func(uint32, uint64, uint8) error) error {
	for _, off := range []uint64{gicdIIDR, gicdCTLR} {
		if err := read(vgicGrpDistRegs, off, 4); err != nil {
			return err
		}
	}
	for _, r := range v2Shared {
		for irq := SPIBase; irq < NumIRQs; irq += 32 / r.bits {
			if err := read(vgicGrpDistRegs, r.offset+uint64(irq*r.bits/8), 4); err != nil {
				return err
			}
		}
	}
	for cpu := 0; cpu < cpus; cpu++ {
		for _, off := range v2Banked {
			if err := read(vgicGrpDistRegs, v2CPUAttr(cpu)|off, 4); err != nil {
				return err
			}
		}
		for _, off := range v2CPU {
			if err := read(vgicGrpCPURegs, v2CPUAttr(cpu)|off, 4); err != nil {
				return err
			}
		}
	}
	return nil
}

var errShortGICState = errors.New("the GIC state ends early")

// maxGICRegs bounds what a state file can make a restore allocate.
const maxGICRegs = 1 << 16

// decodeGIC checks and decodes a saved GIC state.
func decodeGIC(b []byte) (GICVersion, []gicReg, error) {
	r := bytes.NewReader(b)
	var version, gic, count uint32
	if binary.Read(r, binary.LittleEndian, &version) != nil || binary.Read(r, binary.LittleEndian, &gic) != nil ||
		binary.Read(r, binary.LittleEndian, &count) != nil {
		return 0, nil, errShortGICState
	}
	if version != gicStateVersion {
		return 0, nil, fmt.Errorf("GIC state version %d; this gokvm reads %d", version, gicStateVersion)
	}
	if count > maxGICRegs {
		return 0, nil, fmt.Errorf("the GIC state lists %d registers, more than %d", count, maxGICRegs)
	}
	regs := make([]gicReg, 0, min(int(count), r.Len()/13))
	for i := uint32(0); i < count; i++ {
		var reg gicReg
		if binary.Read(r, binary.LittleEndian, &reg.group) != nil || binary.Read(r, binary.LittleEndian, &reg.attr) != nil ||
			binary.Read(r, binary.LittleEndian, &reg.width) != nil {
			return 0, nil, errShortGICState
		}
		switch reg.width {
		case 8:
			if binary.Read(r, binary.LittleEndian, &reg.value) != nil {
				return 0, nil, errShortGICState
			}
		case 4:
			var v uint32
			if binary.Read(r, binary.LittleEndian, &v) != nil {
				return 0, nil, errShortGICState
			}
			reg.value = uint64(v)
		default:
			return 0, nil, fmt.Errorf("a GIC register of width %d", reg.width)
		}
		regs = append(regs, reg)
	}
	if r.Len() != 0 {
		return 0, nil, fmt.Errorf("the GIC state has %d bytes after its registers", r.Len())
	}
	return GICVersion(gic), regs, nil
}

// restore writes a saved state into this GIC, made and initialised for
// the same vcpus.
func (g *vgic) restore(mpidrs []uint64, b []byte) error {
	version, regs, err := decodeGIC(b)
	if err != nil {
		return err
	}
	if version != g.version {
		return fmt.Errorf("the state is of a %s; this machine has a %s", version, g.version)
	}
	for _, r := range regs {
		var err error
		if r.width == 8 {
			err = g.dev.SetAttrU64(r.group, r.attr, r.value)
		} else {
			err = g.dev.SetAttrU32(r.group, r.attr, uint32(r.value))
		}
		if err != nil {
			return fmt.Errorf("writing %s register (group %d, attribute %#x) = %#x: %w", g.version, r.group, r.attr, r.value, err)
		}
	}
	return nil
}
