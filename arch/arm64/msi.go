package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// MSIs reach the GIC in one of two ways, as in kvmtool. A GICv3's ITS is
// KVM's: a message written to its GITS_TRANSLATER, with the sending
// device's ID (its PCI requester ID), becomes an LPI, through an MSI
// route. A GICv2 has no ITS: gokvm emulates a GICv2m frame (gicv2m.go),
// whose message data names an SPI, and the route is that SPI's pin.

const (
	// gitsTranslater is the ITS register MSIs are written to, in its
	// second 64 KiB frame.
	gitsTranslater = 0x1_0040
	// v2mSetSPI is the GICv2m frame register MSIs are written to
	// (MSI_SETSPI_NS): the data is the SPI's interrupt ID.
	v2mSetSPI = 0x040
)

var (
	_ vmm.MSIBoard    = (*Board)(nil)
	_ vmm.DeviceBoard = (*Board)(nil)
)

// HasMSI implements vmm.MSIBoard.
func (b *Board) HasMSI() bool { return b.gic != nil && b.gic.msi != noMSI }

// WiredRoutes implements vmm.MSIBoard: each SPI's pin, as KVM's default
// routing has them (GSI n to SPI n).
func (b *Board) WiredRoutes() []kvm.IRQRoute {
	routes := make([]kvm.IRQRoute, MaxSPIs)
	for i := range routes {
		routes[i] = kvm.IRQRoute{GSI: uint32(i), Kind: kvm.RouteIRQChip, IRQChip: 0, Pin: uint32(i)}
	}
	return routes
}

// MSIRoute implements vmm.MSIBoard. Only a message to the machine's MSI
// controller is routed: an ITS's with the device's requester ID (a PCI
// function's, from its place on bus 0), a GICv2m frame's for one of its
// SPIs.
func (b *Board) MSIRoute(p vmm.Placement, gsi uint32, address uint64, data uint32) (kvm.IRQRoute, error) {
	if b.gic == nil {
		return kvm.IRQRoute{}, fmt.Errorf("no interrupt controller")
	}
	switch b.gic.msi {
	case msiITS:
		if want := b.gic.itsBase + gitsTranslater; address != want {
			return kvm.IRQRoute{}, fmt.Errorf("an MSI to %#x, not the ITS's GITS_TRANSLATER at %#x", address, want)
		}
		rid, err := requesterID(p)
		if err != nil {
			return kvm.IRQRoute{}, err
		}
		return kvm.IRQRoute{GSI: gsi, Kind: kvm.RouteMSI, Address: address, Data: data, DevID: rid, HasDevID: true}, nil
	case msiGICv2m:
		if want := uint64(GICv2mBase + v2mSetSPI); address != want {
			return kvm.IRQRoute{}, fmt.Errorf("an MSI to %#x, not the GICv2m frame's MSI_SETSPI_NS at %#x", address, want)
		}
		first := uint32(SPIBase + MaxSPIs - GICv2mSPIs)
		if data < first || data >= first+GICv2mSPIs {
			return kvm.IRQRoute{}, fmt.Errorf("an MSI for interrupt %d, not one of the GICv2m frame's %d to %d", data, first, first+GICv2mSPIs-1)
		}
		return kvm.IRQRoute{GSI: gsi, Kind: kvm.RouteIRQChip, IRQChip: 0, Pin: data - SPIBase}, nil
	}
	return kvm.IRQRoute{}, fmt.Errorf("the interrupt controller takes no MSIs")
}

// requesterID is the PCI requester ID (bus, device, function) of the
// function placed at p: where its configuration space is in ECAM.
func requesterID(p vmm.Placement) (uint32, error) {
	if p.Base < PCIConfigBase || p.Base >= PCIConfigBase+PCISlots*PCISlotSize {
		return 0, fmt.Errorf("an MSI from a device that is not a PCI function (at %#x)", p.Base)
	}
	return uint32((p.Base - PCIConfigBase) >> 12), nil
}

// msiNode is the device-tree node of the MSI controller, nil without.
func (b *Board) msiNode() *MSINode {
	if b.gic == nil {
		return nil
	}
	switch b.gic.msi {
	case msiITS:
		return &MSINode{Compatible: "arm,gic-v3-its", Base: b.gic.itsBase, Size: GICv3ITSSize}
	case msiGICv2m:
		return &MSINode{Compatible: "arm,gic-v2m-frame", Base: GICv2mBase, Size: GICv2mSize}
	}
	return nil
}

// BoardDevices implements vmm.DeviceBoard: the GICv2m frame, emulated.
func (b *Board) BoardDevices() []vmm.BoardDevice {
	if b.gic == nil || b.gic.msi != msiGICv2m {
		return nil
	}
	return []vmm.BoardDevice{{Name: "gicv2m", Base: GICv2mBase, Size: GICv2mSize,
		Device: newGICv2m(SPIBase+MaxSPIs-GICv2mSPIs, GICv2mSPIs)}}
}
