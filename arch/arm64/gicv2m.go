package arm64

import (
	"encoding/binary"

	"github.com/gokvm/gokvm/vmm"
)

// The GICv2m frame's registers that a guest reads (ARM's "GICv2m
// Architecture Specification"; Linux's drivers/irqchip/irq-gic-v2m.c).
const (
	v2mTyper = 0x008 // [25:16] the first SPI's interrupt ID, [9:0] how many
)

// gicv2m is a GICv2m MSI frame, as kvmtool emulates it (arm/gicv2m.c):
// KVM has no GICv2m, so the guest's driver reads which SPIs the frame
// turns MSIs into from here, and a PCI function's MSI is routed to the
// SPI its message names (Board.MSIRoute), never written to the frame. A
// write the guest makes to the frame itself (MSI_SETSPI_NS from a CPU)
// is ignored, as kvmtool ignores it.
type gicv2m struct {
	typer uint32
}

var _ vmm.MMIODevice = (*gicv2m)(nil)

func newGICv2m(firstIntID, count uint32) *gicv2m {
	return &gicv2m{typer: (firstIntID&0x3ff)<<16 | count&0x3ff}
}

// ReadMMIO implements vmm.MMIODevice: 32-bit registers; anything else
// reads as zero.
func (g *gicv2m) ReadMMIO(off uint64, data []byte) {
	clear(data)
	if len(data) != 4 || off != v2mTyper {
		return // IIDR and the rest read as zero
	}
	binary.LittleEndian.PutUint32(data, g.typer)
}

// WriteMMIO implements vmm.MMIODevice: ignored.
func (g *gicv2m) WriteMMIO(uint64, []byte) {}
