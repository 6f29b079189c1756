package arm64

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A hang diagnosis reads the guest kernel's stack by virtual address, so
// gokvm walks the guest's stage-1 translation tables (EL1&0 regime) the
// way the MMU would, reading descriptors from guest RAM. Every value on
// the way (the registers, each descriptor) is the guest's and untrusted:
// a walk takes at most four levels, checks each address against the
// output size and lets the RAM reader bounds-check the access, and ends
// in an error, never a panic. Permissions and the access flag are not
// checked: gokvm reads what the kernel mapped, whatever it may do.
//
// 52-bit addresses (TCR_EL1.DS, IPS=52 bits, TxSZ < 16) are refused: the
// guests gokvm boots use at most 48 bits.

// PhysReader reads guest-physical memory, bounds-checked;
// *memory.GuestMemory is one.
type PhysReader interface {
	Read(ipa uint64, p []byte) error
}

// ErrUnmapped is wrapped by a walk that finds no mapping for an address
// (what the MMU would report as a translation fault).
var ErrUnmapped = errors.New("guest virtual address not mapped")

// ErrTranslationRegime is wrapped when the guest's translation registers
// hold what the walker does not support or the architecture reserves.
var ErrTranslationRegime = errors.New("unsupported guest translation setup")

// MMU is the guest's EL1&0 stage-1 translation regime, as its system
// registers set it.
type MMU struct {
	SCTLR, TCR, TTBR0, TTBR1 uint64
}

// Bits of SCTLR_EL1 and TCR_EL1 (Arm ARM D19.2) the walk uses.
const (
	sctlrM   = 1 << 0
	tcrEPD0  = 1 << 7
	tcrEPD1  = 1 << 23
	tcrTBI0  = 1 << 37
	tcrTBI1  = 1 << 38
	tcrDS    = 1 << 59
	oaMask48 = 1<<48 - 1
)

// ipsBits is the output address size TCR_EL1.IPS selects; 52 bits (6) and
// the reserved 7 are refused.
var ipsBits = [...]uint{32, 36, 40, 42, 44, 48}

// walkParams are what the walk of one half of the address space needs.
type walkParams struct {
	upper     bool   // TTBR1's half (VA bit 55 set)
	ia        uint   // input address bits: 64 - TxSZ
	granule   uint   // log2 of the granule: 12, 14 or 16
	oa        uint   // output address bits
	ttbr      uint64 // the table base register
	startLvl  int
	startBits uint // index bits resolved at the start level
}

// params decodes the registers for va.
func (m MMU) params(va uint64) (walkParams, error) {
	p := walkParams{upper: va>>55&1 == 1}
	if m.TCR&tcrDS != 0 {
		return p, fmt.Errorf("%w: TCR_EL1.DS is set (52-bit addresses with 4K/16K pages)", ErrTranslationRegime)
	}
	ips := m.TCR >> 32 & 7
	if ips >= uint64(len(ipsBits)) {
		return p, fmt.Errorf("%w: TCR_EL1.IPS=%d (52-bit or reserved output size)", ErrTranslationRegime, ips)
	}
	p.oa = ipsBits[ips]
	var txsz, tbi uint64
	var epd bool
	if p.upper {
		txsz, tbi, epd, p.ttbr = m.TCR>>16&0x3f, m.TCR&tcrTBI1, m.TCR&tcrEPD1 != 0, m.TTBR1
		switch m.TCR >> 30 & 3 {
		case 1:
			p.granule = 14
		case 2:
			p.granule = 12
		case 3:
			p.granule = 16
		default:
			return p, fmt.Errorf("%w: TCR_EL1.TG1=0 is reserved", ErrTranslationRegime)
		}
	} else {
		txsz, tbi, epd, p.ttbr = m.TCR&0x3f, m.TCR&tcrTBI0, m.TCR&tcrEPD0 != 0, m.TTBR0
		switch m.TCR >> 14 & 3 {
		case 0:
			p.granule = 12
		case 1:
			p.granule = 16
		case 2:
			p.granule = 14
		default:
			return p, fmt.Errorf("%w: TCR_EL1.TG0=3 is reserved", ErrTranslationRegime)
		}
	}
	half := map[bool]string{false: "TTBR0", true: "TTBR1"}[p.upper]
	if txsz < 16 {
		return p, fmt.Errorf("%w: %s's TxSZ=%d (52-bit virtual addresses)", ErrTranslationRegime, half, txsz)
	}
	p.ia = uint(64 - txsz)
	stride := p.granule - 3
	if p.ia <= p.granule {
		return p, fmt.Errorf("%w: %s's TxSZ=%d leaves no bits to translate with %d KiB pages", ErrTranslationRegime, half, txsz, 1<<(p.granule-10))
	}
	levels := (p.ia - p.granule + stride - 1) / stride
	p.startLvl = 4 - int(levels)
	p.startBits = p.ia - p.granule - (levels-1)*stride
	if epd {
		return p, fmt.Errorf("%w: %#x: walks of %s's half are disabled (TCR_EL1.EPD)", ErrUnmapped, va, half)
	}
	// The bits above the input size (below the top byte, if it is
	// ignored) must all equal bit 55: all ones for TTBR1, zeros for TTBR0.
	top := 64
	if tbi != 0 {
		top = 56
	}
	want := uint64(0)
	if p.upper {
		want = ^uint64(0)
	}
	span := uint(top) - p.ia
	if (va>>p.ia^want)&(1<<span-1) != 0 {
		return p, fmt.Errorf("%w: %#x is outside %s's %d-bit range", ErrUnmapped, va, half, p.ia)
	}
	return p, nil
}

// Translate gives the guest-physical address of va and the size of the
// page or block that maps it (with the MMU off, va itself and a 4 KiB
// page).
func (m MMU) Translate(mem PhysReader, va uint64) (ipa, size uint64, err error) {
	if m.SCTLR&sctlrM == 0 {
		return va, 1 << 12, nil
	}
	p, err := m.params(va)
	if err != nil {
		return 0, 0, err
	}
	stride := p.granule - 3
	bits := p.startBits
	tableMask := uint64(oaMask48) &^ (uint64(8)<<bits - 1) // the table is 8<<bits bytes, aligned so
	base := p.ttbr & tableMask
	for lvl := p.startLvl; lvl <= 3; lvl++ {
		if base>>p.oa != 0 {
			return 0, 0, fmt.Errorf("%w: %#x: the level-%d table at %#x is beyond the %d-bit output size", ErrUnmapped, va, lvl, base, p.oa)
		}
		lsb := p.granule + uint(3-lvl)*stride
		idx := va >> lsb & (1<<bits - 1)
		var b [8]byte
		at := base + idx*8
		if err := mem.Read(at, b[:]); err != nil {
			return 0, 0, fmt.Errorf("reading the level-%d descriptor of %#x at %#x: %w", lvl, va, at, err)
		}
		desc := binary.LittleEndian.Uint64(b[:])
		if desc&1 == 0 {
			return 0, 0, fmt.Errorf("%w: %#x: invalid level-%d descriptor %#x at %#x", ErrUnmapped, va, lvl, desc, at)
		}
		out := desc & oaMask48 &^ (1<<p.granule - 1)
		isTable := desc&2 != 0
		switch {
		case lvl == 3 && !isTable:
			return 0, 0, fmt.Errorf("%w: %#x: reserved level-3 descriptor %#x at %#x", ErrUnmapped, va, desc, at)
		case lvl < 3 && isTable:
			base, bits = out, stride
			continue
		case lvl < 3 && !blockAllowed(p.granule, lvl):
			return 0, 0, fmt.Errorf("%w: %#x: a block descriptor at level %d (%#x at %#x) is not allowed with %d KiB pages", ErrUnmapped, va, lvl, desc, at, 1<<(p.granule-10))
		}
		size = 1 << lsb
		out &^= size - 1
		if out>>p.oa != 0 {
			return 0, 0, fmt.Errorf("%w: %#x maps to %#x, beyond the %d-bit output size", ErrUnmapped, va, out, p.oa)
		}
		return out | va&(size-1), size, nil
	}
	// Not reached: level 3 always returns.
	return 0, 0, fmt.Errorf("%w: %#x: the walk went past level 3", ErrUnmapped, va)
}

// blockAllowed says whether a block descriptor may appear at lvl (below
// 3) without 52-bit addressing: 1 GiB and 2 MiB blocks with 4 KiB pages,
// 32 MiB with 16 KiB, 512 MiB with 64 KiB.
func blockAllowed(granule uint, lvl int) bool {
	return lvl == 2 || granule == 12 && lvl == 1
}

// GuestVirt reads guest memory by virtual address through the guest's
// stage-1 tables.
type GuestVirt struct {
	MMU MMU
	Mem PhysReader
}

// Read copies guest virtual memory at va into p, page by page; it fails
// if any byte is unmapped or outside RAM, or the range wraps.
func (g GuestVirt) Read(va uint64, p []byte) error {
	if va+uint64(len(p)) < va {
		return fmt.Errorf("%w: %#x+%d wraps around the address space", ErrUnmapped, va, len(p))
	}
	for len(p) > 0 {
		ipa, size, err := g.MMU.Translate(g.Mem, va)
		if err != nil {
			return err
		}
		n := min(uint64(len(p)), size-va&(size-1))
		if err := g.Mem.Read(ipa, p[:n]); err != nil {
			return fmt.Errorf("reading %#x (at %#x): %w", va, ipa, err)
		}
		p, va = p[n:], va+n
	}
	return nil
}
