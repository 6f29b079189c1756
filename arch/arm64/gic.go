package arm64

import (
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sys/unix"
)

// KVM device types and VGIC attributes (linux/kvm.h, asm/kvm.h).
const (
	kvmDevTypeVGICv2  = 5
	kvmDevTypeVGICv3  = 7
	kvmDevTypeVGICITS = 8

	vgicGrpAddr   = 0
	vgicGrpNrIRQs = 3
	vgicGrpCtrl   = 4
	vgicCtrlInit  = 0

	vgicV2AddrDist   = 0
	vgicV2AddrCPU    = 1
	vgicV3AddrDist   = 2
	vgicV3AddrRedist = 3
	vgicITSAddr      = 4 // KVM_VGIC_ITS_ADDR_TYPE

	// GICv2 has 8 CPU interface targets.
	gicv2MaxCPUs = 8
)

// IRQChip is how the user asks for the interrupt controller (kvmtool's
// --irqchip values).
type IRQChip string

const (
	IRQChipAuto  IRQChip = "auto"
	IRQChipGICv3 IRQChip = "gicv3"
	IRQChipGICv2 IRQChip = "gicv2"
	// IRQChipGICv3ITS is a GICv3 with an ITS, which takes PCI
	// functions' MSIs.
	IRQChipGICv3ITS IRQChip = "gicv3-its"
	// IRQChipGICv2M is a GICv2 with a GICv2m frame, which turns PCI
	// functions' MSIs into SPIs.
	IRQChipGICv2M IRQChip = "gicv2m"
)

// ParseIRQChip checks an --irqchip value.
func ParseIRQChip(s string) (IRQChip, error) {
	switch c := IRQChip(s); c {
	case IRQChipAuto, IRQChipGICv3, IRQChipGICv2, IRQChipGICv3ITS, IRQChipGICv2M:
		return c, nil
	}
	return "", vmm.Configf("--irqchip %q: want auto, gicv3, gicv3-its, gicv2 or gicv2m", s)
}

// msiFrame is the GIC's MSI controller, if any.
type msiFrame int

const (
	noMSI msiFrame = iota
	msiITS
	msiGICv2m
)

// version is the GIC an irqchip choice makes, and its MSI controller.
func (c IRQChip) version() (GICVersion, msiFrame) {
	switch c {
	case IRQChipGICv3ITS:
		return GICv3, msiITS
	case IRQChipGICv2:
		return GICv2, noMSI
	case IRQChipGICv2M:
		return GICv2, msiGICv2m
	}
	return GICv3, noMSI
}

// vgic is the in-kernel GIC, between creation and initialisation.
type vgic struct {
	version GICVersion
	dev     *kvm.Device
	// msi is the MSI controller: an in-kernel ITS (its), or a GICv2m
	// frame emulated by gokvm (gicv2m.go).
	msi msiFrame
	its *kvm.Device
	// itsBase is where the ITS is.
	itsBase uint64
}

// createVGIC makes the in-kernel GIC the user asked for. auto tries, as
// kvmtool does, a GICv3 then a GICv2; with PCI, each with its MSI
// controller (an ITS, a GICv2m frame), a GICv3 whose ITS cannot be made
// going without. Without PCI no device sends MSIs, and a machine without
// an MSI controller can be saved. A GIC once made stays the VM's (KVM
// destroys devices only with the VM), so auto adds the ITS to the GICv3
// it made rather than making another.
func createVGIC(vm *kvm.VM, want IRQChip, ncpus int, pci bool) (*vgic, error) {
	if want != IRQChipAuto {
		return createVGICChip(vm, want, ncpus)
	}
	g, err3 := createVGICVersion(vm, GICv3, ncpus)
	if err3 == nil {
		if pci && g.createITS(vm, ncpus) == nil {
			g.msi = msiITS
		}
		return g, nil
	}
	g, err2 := createVGICVersion(vm, GICv2, ncpus)
	if err2 != nil {
		return nil, fmt.Errorf("--irqchip auto: no in-kernel GIC could be created: %v; %v", err3, err2)
	}
	if pci {
		g.msi = msiGICv2m // emulated by gokvm: nothing to make in KVM
	}
	return g, nil
}

// createVGICChip makes one irqchip choice's GIC and MSI controller.
func createVGICChip(vm *kvm.VM, c IRQChip, ncpus int) (*vgic, error) {
	v, msi := c.version()
	g, err := createVGICVersion(vm, v, ncpus)
	if err != nil {
		return nil, err
	}
	g.msi = msi
	if msi == msiITS {
		if err := g.createITS(vm, ncpus); err != nil {
			g.dev.Close()
			return nil, err
		}
	}
	return g, nil
}

// createITS adds an ITS to a GICv3, below its redistributors, and
// initialises it (kvmtool's gic__create_its_frame). KVM emulates the ITS
// whatever the host's GIC has.
func (g *vgic) createITS(vm *kvm.VM, ncpus int) error {
	dev, err := vm.CreateDevice(kvmDevTypeVGICITS)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return vmm.Configf("--irqchip %s: this host's KVM cannot emulate a GICv3 ITS (KVM_CREATE_DEVICE: %v); try --irqchip gicv3", IRQChipGICv3ITS, err)
		}
		return fmt.Errorf("creating the in-kernel GICv3 ITS: %w", err)
	}
	base := GICv3ITSBase(ncpus)
	if err := dev.SetAttrU64(vgicGrpAddr, vgicITSAddr, base); err != nil {
		dev.Close()
		return fmt.Errorf("placing the GICv3 ITS at %#x: %w", base, err)
	}
	if err := dev.SetAttrNone(vgicGrpCtrl, vgicCtrlInit); err != nil {
		dev.Close()
		return fmt.Errorf("initialising the GICv3 ITS: %w", err)
	}
	// An MSI route to the ITS names the sending device; KVM says it
	// wants that once an ITS exists.
	if vm.CheckExtension(kvm.CapMSIDevID) <= 0 {
		dev.Close()
		return &kvm.MissingCapabilityError{Cap: kvm.CapMSIDevID, For: "MSIs through a GICv3 ITS"}
	}
	g.its, g.itsBase = dev, base
	return nil
}

// close releases the GIC's devices.
func (g *vgic) close() error {
	var errs *multierror.Error
	if g.its != nil {
		errs = multierror.Append(errs, g.its.Close())
	}
	errs = multierror.Append(errs, g.dev.Close())
	return errs.ErrorOrNil()
}

func createVGICVersion(vm *kvm.VM, v GICVersion, ncpus int) (*vgic, error) {
	typ := uint32(kvmDevTypeVGICv3)
	if v == GICv2 {
		if ncpus > gicv2MaxCPUs {
			return nil, vmm.Configf("%s supports at most %d vcpus, %d asked for", v, gicv2MaxCPUs, ncpus)
		}
		typ = kvmDevTypeVGICv2
	}
	dev, err := vm.CreateDevice(typ)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil, vmm.Configf("--irqchip %s: this host's KVM cannot emulate a %s (KVM_CREATE_DEVICE: %v); try --irqchip auto", v, v, err)
		}
		return nil, fmt.Errorf("creating the in-kernel %s: %w", v, err)
	}
	g := &vgic{version: v, dev: dev}
	set := func(typ uint64, addr uint64) error {
		if err := dev.SetAttrU64(vgicGrpAddr, typ, addr); err != nil {
			return fmt.Errorf("placing %s region %d at %#x: %w", v, typ, addr, err)
		}
		return nil
	}
	if v == GICv3 {
		err = multierror.Append(set(vgicV3AddrDist, GICDistBase), set(vgicV3AddrRedist, GICv3RedistBase(ncpus))).ErrorOrNil()
	} else {
		err = multierror.Append(set(vgicV2AddrDist, GICDistBase), set(vgicV2AddrCPU, GICv2CPUBase)).ErrorOrNil()
	}
	if err != nil {
		dev.Close()
		return nil, err
	}
	return g, nil
}

// init sizes the interrupt space and initialises the VGIC; KVM wants every
// vcpu created first. The device stays open: a saved state reads and
// writes its registers through it.
func (g *vgic) init() error {
	n := uint32(NumIRQs)
	if err := g.dev.SetAttrU32(vgicGrpNrIRQs, 0, n); err != nil {
		return fmt.Errorf("setting %s interrupt count to %d: %w", g.version, n, err)
	}
	if err := g.dev.SetAttrNone(vgicGrpCtrl, vgicCtrlInit); err != nil {
		return fmt.Errorf("initialising the in-kernel %s: %w", g.version, err)
	}
	return nil
}

// irqLine is KVM_IRQ_LINE's encoding of shared interrupt spi.
func irqLine(spi uint32) uint32 {
	const typeSPI, typeShift = 1, 24
	return typeSPI<<typeShift | (SPIBase + spi)
}
