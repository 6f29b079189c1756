package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/vmm"
	"github.com/u-root/u-root/pkg/dt"
)

// gicAddressCells is the GIC node's #address-cells with PCI: the parent
// unit address in each interrupt-map entry has that many cells.
const gicAddressCells = 2

// The PCI bus binding's (IEEE 1275) phys.hi cell: the space code and,
// in interrupt-map, the device number.
const (
	pciSpaceMem32  = 2 << 24
	pciDeviceShift = 11
	pciDeviceMask  = 0x1f << pciDeviceShift
	pciPinINTA     = 1
	pciPinMask     = 7
	pciFirstBus    = 0
)

// PCIHost implements vmm.DeviceTree.
func (t *deviceTree) PCIHost(p vmm.Placement) { t.pciHost = &p }

// PCIFunction implements vmm.DeviceTree.
func (t *deviceTree) PCIFunction(p vmm.Placement) { t.pciFuncs = append(t.pciFuncs, p) }

// pciNode is the PCI host bridge's node, as kvmtool writes it (arm/pci.c):
// a generic ECAM host bridge with bus 0 only, the 32-bit memory window
// its BARs go in (no I/O space: no function has an I/O BAR), each
// function's INTA wired to its own SPI, level-triggered, and the MSI
// controller, when there is one, as msi-parent (an ITS then takes the
// requester ID as the device ID).
func pciNode(c FDTConfig, t *deviceTree, msiPhandle uint32) *dt.Node {
	h := *t.pciHost
	props := []dt.Property{
		Strings("compatible", "pci-host-ecam-generic"),
		dt.PropertyString("device_type", "pci"),
		dt.PropertyU32("#address-cells", 3),
		dt.PropertyU32("#size-cells", 2),
		dt.PropertyU32("#interrupt-cells", 1),
		Empty("dma-coherent"),
		dt.PropertyU32Array("bus-range", []uint32{pciFirstBus, pciFirstBus}),
		regs(h.Base, h.Size),
		dt.PropertyU32Array("ranges", []uint32{
			pciSpaceMem32, uint32(PCIMemBase >> 32), uint32(PCIMemBase),
			uint32(PCIMemBase >> 32), uint32(PCIMemBase),
			uint32(PCIMemSize >> 32), uint32(PCIMemSize),
		}),
	}
	if c.MSI != nil {
		props = append(props, dt.PropertyU32("msi-parent", msiPhandle))
	}
	if len(t.pciFuncs) > 0 {
		var imap []uint32
		for _, f := range t.pciFuncs {
			dev := uint32((f.Base - h.Base) / PCISlotSize)
			imap = append(imap,
				dev<<pciDeviceShift, 0, 0, pciPinINTA, // child unit address, pin
				gicPhandle, 0, 0, // parent, its unit address
				irqTypeSPI, f.IRQ, irqLevelHigh)
		}
		props = append(props,
			dt.PropertyU32Array("interrupt-map", imap),
			dt.PropertyU32Array("interrupt-map-mask", []uint32{pciDeviceMask, 0, 0, pciPinMask}))
	}
	return dt.NewNode(fmt.Sprintf("pci@%x", h.Base), dt.WithProperty(props...))
}
