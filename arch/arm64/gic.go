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
	kvmDevTypeVGICv2 = 5
	kvmDevTypeVGICv3 = 7

	vgicGrpAddr   = 0
	vgicGrpNrIRQs = 3
	vgicGrpCtrl   = 4
	vgicCtrlInit  = 0

	vgicV2AddrDist   = 0
	vgicV2AddrCPU    = 1
	vgicV3AddrDist   = 2
	vgicV3AddrRedist = 3

	// GICv2 has 8 CPU interface targets.
	gicv2MaxCPUs = 8
)

// IRQChip is how the user asks for the interrupt controller.
type IRQChip string

const (
	IRQChipAuto  IRQChip = "auto"
	IRQChipGICv3 IRQChip = "gicv3"
	IRQChipGICv2 IRQChip = "gicv2"
)

// ParseIRQChip checks an --irqchip value.
func ParseIRQChip(s string) (IRQChip, error) {
	switch c := IRQChip(s); c {
	case IRQChipAuto, IRQChipGICv3, IRQChipGICv2:
		return c, nil
	}
	return "", vmm.Configf("--irqchip %q: want auto, gicv3 or gicv2", s)
}

// vgic is the in-kernel GIC, between creation and initialisation.
type vgic struct {
	version GICVersion
	dev     *kvm.Device
}

// createVGIC makes the in-kernel GIC the user asked for. auto tries GICv3,
// then GICv2, as kvmtool does.
func createVGIC(vm *kvm.VM, want IRQChip, ncpus int) (*vgic, error) {
	switch want {
	case IRQChipGICv3:
		return createVGICVersion(vm, GICv3, ncpus)
	case IRQChipGICv2:
		return createVGICVersion(vm, GICv2, ncpus)
	}
	g, err3 := createVGICVersion(vm, GICv3, ncpus)
	if err3 == nil {
		return g, nil
	}
	g, err2 := createVGICVersion(vm, GICv2, ncpus)
	if err2 == nil {
		return g, nil
	}
	return nil, fmt.Errorf("--irqchip auto: no in-kernel GIC could be created: %v; %v", err3, err2)
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
