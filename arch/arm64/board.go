package arm64

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"math/bits"

	"github.com/gokvm/gokvm/symbols"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/memory"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

// maxCmdline is arm64's COMMAND_LINE_SIZE, including the terminating NUL.
const maxCmdline = 2048

// defaultIPABits is the guest-physical address size of a VM created with
// machine type 0.
const defaultIPABits = 40

// Options are the user's choices for the machine.
type Options struct {
	IRQChip IRQChip
	// Guest is the kind of kernel booted; AArch64 when nil.
	Guest Guest
	// NoRNGSeed leaves rng-seed out of the device tree, for reproducible
	// device trees.
	NoRNGSeed bool
	// CPU are the optional vcpu features: PMU, SVE, pointer
	// authentication.
	CPU CPUFeatures
	// PCI gives the machine a PCI host bridge (AreaPCI devices): its
	// configuration space and memory window take 0x4000_0000 to
	// 0x8000_0000, which RAM must stay clear of, and --irqchip auto
	// prefers an interrupt controller that takes MSIs.
	PCI bool
	// Log receives the board's warnings (a kernel loaded as a flat
	// binary); nil discards them.
	Log *log.Logger
}

// Board is the arm64 mach-virt machine (vmm.Board).
type Board struct {
	opts  Options
	guest Guest

	kernel  Kernel
	initrd  []byte
	cmdline string
	ramBase uint64
	ramSize uint64
	place   Placement

	gic     *vgic
	target  uint32
	haveTgt bool
	mpidrs  []uint64
	vcpus   []*kvm.Vcpu

	// The optional features the vcpus get, decided in CheckHost.
	pmu, sve, ptrauth bool

	// restoring is the host state of a machine being restored
	// (PrepareRestore), nil when booting.
	restoring *snapshot.Host

	// traceMem and syms unwind and name a vcpu's stack in a dump
	// (SetBacktrace); none when traceMem is nil.
	traceMem PhysReader
	syms     *symbols.Table

	nextPlatform uint64
	nextVirtio   uint64
	fixedUART    bool // the AreaFixedUART slot is taken
	flash        bool // the AreaFlash window is taken
	nextSPI      uint32
	nextPCISlot  uint64
	pciHost      bool // the AreaPCIHost window is taken
}

// New makes an arm64 board.
func New(opts Options) *Board {
	if opts.IRQChip == "" {
		opts.IRQChip = IRQChipAuto
	}
	if opts.Guest == nil {
		opts.Guest = AArch64{}
	}
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	return &Board{opts: opts, guest: opts.Guest}
}

// Name implements vmm.Board.
func (b *Board) Name() string { return "mach-virt (" + b.guest.Name() + " guest)" }

// DefaultRAMBase implements vmm.Board.
func (b *Board) DefaultRAMBase() uint64 { return DefaultRAMBase }

// Prepare implements vmm.Board: parse the kernel (or take the firmware)
// and plan where everything goes, so that a bad file or too little RAM
// fails before KVM is opened.
func (b *Board) Prepare(p vmm.Payload, ramBase, ramSize uint64, cpus int) error {
	if err := b.checkRAM(ramBase, ramSize); err != nil {
		return err
	}
	if err := b.guest.CheckRAM(ramBase, ramSize); err != nil {
		return err
	}
	if max := b.guest.MaxCmdline(); len(p.Cmdline) >= max {
		return vmm.Configf("the kernel command line is %d bytes; %s kernels take at most %d", len(p.Cmdline), b.guest.Name(), max-1)
	}
	var k Kernel
	var place Placement
	var err error
	if len(p.Firmware) > 0 {
		if len(p.Kernel) > 0 || len(p.Initrd) > 0 {
			return vmm.Configf("a firmware image boots instead of a kernel and initrd: give one or the other")
		}
		k = Kernel{Data: p.Firmware, Size: uint64(len(p.Firmware))}
		place, err = PlaceFirmware(ramBase, ramSize, p.FirmwareAddr, k.Size)
	} else {
		if k, err = b.guest.Load(p.Kernel); err != nil {
			return &vmm.ConfigError{Err: fmt.Errorf("kernel: %w", err)}
		}
		limit := b.guest.PlacementLimit(ramBase, ramSize)
		if k.FlatWhy != "" {
			name := "the kernel"
			if p.KernelName != "" {
				name = "kernel " + p.KernelName
			}
			b.opts.Log.Printf("%s %s; loading it as a flat binary at %#x as kvmtool does", name, k.FlatWhy, ramBase+k.Offset)
			limit = flatLimit(ramBase, ramSize)
		}
		place, err = Place(ramBase, ramSize, k.Offset, k.Size, uint64(len(p.Initrd)), limit)
	}
	if err != nil {
		return err
	}
	b.kernel, b.initrd, b.cmdline = k, p.Initrd, p.Cmdline
	b.ramBase, b.ramSize, b.place = ramBase, ramSize, place
	return nil
}

// checkRAM checks where guest RAM goes: above the device area (and the
// PCI host bridge's, with PCI) and within the 52-bit physical address
// space (a boot and a restore alike).
func (b *Board) checkRAM(ramBase, ramSize uint64) error {
	if ramBase < DeviceAreaEnd {
		return vmm.Configf("guest RAM at %#x would overlap the device area below %#x", ramBase, uint64(DeviceAreaEnd))
	}
	if b.opts.PCI && ramBase < PCIMemBase+PCIMemSize {
		return vmm.Configf("guest RAM at %#x would overlap the PCI host bridge at %#x-%#x (--virtio-transport pci): give an address of at least %#x",
			ramBase, uint64(PCIConfigBase), uint64(PCIMemBase+PCIMemSize), uint64(PCIMemBase+PCIMemSize))
	}
	if ramBase+ramSize < ramBase || bits.Len64(ramBase+ramSize-1) > 52 {
		return vmm.Configf("guest RAM at %#x+%d MiB is beyond the 52-bit physical address space", ramBase, ramSize>>20)
	}
	return nil
}

// CheckHost implements vmm.Board.
func (b *Board) CheckHost(sys *kvm.System) error {
	for _, c := range []struct {
		cap kvm.Capability
		why string
	}{
		{kvm.CapUserMemory, "guest RAM"},
		{kvm.CapOneReg, "setting vcpu registers"},
		{kvm.CapDeviceCtrl, "the in-kernel GIC"},
		{kvm.CapArmPSCI02, "starting and stopping vcpus through PSCI 0.2"},
	} {
		if err := sys.Require(c.cap, c.why); err != nil {
			return err
		}
	}
	if err := b.guest.CheckHost(sys); err != nil {
		return err
	}
	if err := b.features(sys); err != nil {
		return err
	}
	return b.checkRestoreFeatures()
}

// MachineType implements vmm.Board: the default 40-bit IPA space, or a
// larger one when RAM reaches above it.
func (b *Board) MachineType(sys *kvm.System) (uintptr, error) {
	need := bits.Len64(b.ramBase + b.ramSize - 1)
	if need <= defaultIPABits {
		return 0, nil
	}
	offered := sys.CheckExtension(kvm.CapArmVMIPASize)
	if offered < need {
		return 0, vmm.Configf("guest RAM ends at %#x, needing a %d-bit guest physical address space; this host's KVM offers %d bits",
			b.ramBase+b.ramSize, need, max(offered, defaultIPABits))
	}
	return uintptr(need), nil
}

// CreateIRQChip implements vmm.Board.
func (b *Board) CreateIRQChip(vm *kvm.VM, cpus int) error {
	g, err := createVGIC(vm, b.opts.IRQChip, cpus, b.opts.PCI)
	if err != nil && b.restoring != nil {
		return vmm.Configf("the state was saved on a host with a %s, which this host's KVM cannot make (%v)", b.restoring.GIC, err)
	}
	if err != nil {
		return err
	}
	b.gic = g
	return nil
}

// GIC is the interrupt controller version in use, once created.
func (b *Board) GIC() GICVersion {
	if b.gic == nil {
		return 0
	}
	return b.gic.version
}

// InitVcpu implements vmm.Board, and records the MPIDR KVM gave the vcpu
// for the device tree.
func (b *Board) InitVcpu(vm *kvm.VM, v *kvm.Vcpu) error {
	if !b.haveTgt {
		t, err := vm.PreferredTarget()
		if err != nil {
			return err
		}
		b.target, b.haveTgt = t, true
	}
	if err := initVcpu(v, b.target, b.featureBits()...); err != nil {
		return err
	}
	if err := b.finalizeSVE(v); err != nil {
		return err
	}
	b.vcpus = append(b.vcpus, v)
	mpidr, err := v.GetOneReg(b.guest.MPIDRReg())
	if err != nil {
		return fmt.Errorf("reading MPIDR of vcpu %d: %w", v.ID, err)
	}
	b.mpidrs = append(b.mpidrs, mpidr)
	return nil
}

// FinalizeIRQChip implements vmm.Board: the VGIC, then what needs it
// initialised (the PMUs' interrupts).
func (b *Board) FinalizeIRQChip() error {
	if err := b.gic.init(); err != nil {
		return err
	}
	return b.initPMU()
}

// PlaceDevice implements vmm.Board: the next free slot of the area.
func (b *Board) PlaceDevice(area vmm.Area, size uint64) (vmm.Placement, error) {
	p := vmm.Placement{Size: size}
	switch area {
	case vmm.AreaPlatform:
		if size > PlatformStride || PlatformBase+(b.nextPlatform+1)*PlatformStride > PlatformAreaEnd {
			return p, fmt.Errorf("no room for another platform device of %d bytes", size)
		}
		p.Base = PlatformBase + b.nextPlatform*PlatformStride
		b.nextPlatform++
	case vmm.AreaVirtio:
		end := min(b.gicBottom(), FixedUARTBase)
		if size > VirtioStride || VirtioBase+(b.nextVirtio+1)*VirtioStride > end {
			return p, fmt.Errorf("no room for another virtio-mmio device")
		}
		p.Base = VirtioBase + b.nextVirtio*VirtioStride
		b.nextVirtio++
	case vmm.AreaFixedUART:
		if size > FixedUARTSize || b.fixedUART {
			return p, fmt.Errorf("the fixed UART slot at %#x is taken or too small for %d bytes", uint64(FixedUARTBase), size)
		}
		p.Base = FixedUARTBase
		b.fixedUART = true
	case vmm.AreaPCI:
		if !b.opts.PCI {
			return p, fmt.Errorf("a PCI function on a board without PCI")
		}
		if size > PCISlotSize || b.nextPCISlot >= PCISlots {
			return p, fmt.Errorf("no room for another PCI function: bus 0 has %d device numbers", PCISlots)
		}
		// The whole device number: the functions it does not have
		// read as absent from the function's window.
		p.Base, p.Size = PCIConfigBase+b.nextPCISlot*PCISlotSize, PCISlotSize
		p.DynamicBase, p.DynamicSize = PCIMemBase, PCIMemSize
		b.nextPCISlot++
	case vmm.AreaPCIHost:
		if !b.opts.PCI || b.pciHost || size > PCIConfigSize {
			return p, fmt.Errorf("no PCI host bridge window for %d bytes (the board has one, without PCI none)", size)
		}
		b.pciHost = true
		p.Base, p.Size, p.IRQ = PCIConfigBase, PCIConfigSize, vmm.NoIRQ
		return p, nil // the bridge raises no interrupt
	case vmm.AreaFlash:
		if size > FlashMaxSize || b.flash {
			return p, fmt.Errorf("the flash window at %#x is taken or too small for %d bytes", uint64(FlashBase), size)
		}
		p.Base, p.IRQ = FlashBase, vmm.NoIRQ
		b.flash = true
		return p, nil // a flash raises no interrupt
	default:
		return p, fmt.Errorf("no %s area on this board", area)
	}
	if b.nextSPI >= b.deviceSPIs() {
		return p, fmt.Errorf("out of interrupts: %d devices already placed", b.nextSPI)
	}
	p.IRQ = b.nextSPI
	b.nextSPI++
	return p, nil
}

// gicBottom is where the GIC's frames start: virtio-mmio windows stay
// below.
func (b *Board) gicBottom() uint64 {
	switch {
	case b.gic == nil || b.gic.version == GICv2:
		return GICv2mBase // whether there is a frame or not
	case b.gic.msi == msiITS:
		return GICv3ITSBase(len(b.mpidrs))
	}
	return GICv3RedistBase(len(b.mpidrs))
}

// deviceSPIs is how many SPIs devices may have: a GICv2m frame takes the
// last ones.
func (b *Board) deviceSPIs() uint32 {
	if b.gic != nil && b.gic.msi == msiGICv2m {
		return MaxSPIs - GICv2mSPIs
	}
	return MaxSPIs
}

// IRQLine implements vmm.Board.
func (b *Board) IRQLine(irq uint32) uint32 { return irqLine(irq) }

// FDTConfig is the device tree description for the machine as built.
func (b *Board) FDTConfig(devices []vmm.PlacedDevice) FDTConfig {
	c := FDTConfig{
		RAMBase:         b.ramBase,
		RAMSize:         b.ramSize,
		MPIDRs:          b.mpidrs,
		GIC:             b.GIC(),
		MSI:             b.msiNode(),
		Devices:         devices,
		Cmdline:         b.cmdline,
		CPUCompatible:   b.guest.CPUCompatible(),
		PMUCompatible:   b.pmuCompatible(),
		TimerCompatible: b.guest.TimerCompatible(),
	}
	if len(b.initrd) > 0 {
		c.InitrdStart, c.InitrdEnd = b.place.InitrdAddr, b.place.InitrdEnd
	}
	if !b.opts.NoRNGSeed {
		c.RNGSeed = make([]byte, 64)
		rand.Read(c.RNGSeed)
	}
	return c
}

// Boot implements vmm.Board.
func (b *Board) Boot(mem *memory.GuestMemory, vcpus []*kvm.Vcpu, devices []vmm.PlacedDevice) ([]byte, error) {
	dtb, err := BuildFDT(b.FDTConfig(devices))
	if err != nil {
		return nil, err
	}
	if err := mem.Write(b.place.KernelAddr, b.kernel.Data); err != nil {
		return nil, fmt.Errorf("loading the kernel: %w", err)
	}
	if len(b.initrd) > 0 {
		if err := mem.Write(b.place.InitrdAddr, b.initrd); err != nil {
			return nil, fmt.Errorf("loading the initrd: %w", err)
		}
	}
	if err := mem.Write(b.place.FDTAddr, dtb); err != nil {
		return nil, fmt.Errorf("loading the device tree: %w", err)
	}
	if err := b.guest.SetBootRegs(vcpus[0], b.place.KernelAddr, b.place.FDTAddr); err != nil {
		return nil, err
	}
	// The payload is in guest RAM; let go of it (a gzip Image was
	// decompressed onto the heap).
	b.kernel.Data, b.initrd = nil, nil
	return dtb, nil
}

// Placement is where the payload goes, after Prepare.
func (b *Board) Placement() Placement { return b.place }

// The core finds these by type assertion.
var (
	_ vmm.Board         = (*Board)(nil)
	_ vmm.VcpuDescriber = (*Board)(nil)
)

// pmuCompatible is the PMU node's compatible string, or "" without a PMU.
func (b *Board) pmuCompatible() string {
	if !b.pmu {
		return ""
	}
	return b.guest.PMUCompatible()
}
