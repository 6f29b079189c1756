package arm64

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gokvm/gokvm/vmm"
	"github.com/u-root/u-root/pkg/dt"
)

// GICVersion is which interrupt controller the guest gets.
type GICVersion int

const (
	GICv2 GICVersion = 2
	GICv3 GICVersion = 3
)

func (g GICVersion) String() string { return fmt.Sprintf("gicv%d", int(g)) }

const gicPhandle = 1

// Interrupt specifier fields of the GIC binding.
const (
	irqTypeSPI       = 0
	irqTypePPI       = 1
	irqEdgeRising    = 1
	irqLevelHigh     = 4
	gicv2PPICPUShift = 8
)

// FDTConfig is everything the device tree describes.
type FDTConfig struct {
	RAMBase, RAMSize uint64
	// MPIDRs holds each vcpu's MPIDR, as KVM reports it.
	MPIDRs []uint64
	GIC    GICVersion
	// Devices are placed on the board; each writes its own node.
	Devices []vmm.PlacedDevice
	Cmdline string
	// InitrdStart and InitrdEnd are 0 when there is no initrd.
	InitrdStart, InitrdEnd uint64
	// CPUCompatible is the cpu nodes' compatible string.
	CPUCompatible string
	// TimerCompatible lists the timer node's compatible strings.
	TimerCompatible []string
	// RNGSeed, when not empty, seeds the guest's entropy pool early.
	RNGSeed []byte
	// PMUCompatible, when not empty, adds a PMU node (on a per-cpu
	// interrupt) with this compatible string.
	PMUCompatible string
	// MSI, when set, is the GIC's MSI controller (an ITS, a GICv2m
	// frame): a node below the GIC's, which the PCI host bridge's
	// msi-parent names.
	MSI *MSINode
}

// MSINode is an MSI controller's device-tree node.
type MSINode struct {
	Compatible string
	Base, Size uint64
}

// Strings is a property holding a list of strings ("a\0b\0").
func Strings(name string, values ...string) dt.Property {
	return dt.Property{Name: name, Value: []byte(strings.Join(values, "\x00") + "\x00")}
}

// Empty is a property without a value (e.g. interrupt-controller).
func Empty(name string) dt.Property { return dt.Property{Name: name, Value: []byte{}} }

// Bytes is a property holding raw bytes.
func Bytes(name string, b []byte) dt.Property { return dt.Property{Name: name, Value: b} }

// regs encodes (address, size) pairs with two cells each.
func regs(pairs ...uint64) dt.Property {
	cells := make([]uint32, 0, 2*len(pairs))
	for _, v := range pairs {
		cells = append(cells, uint32(v>>32), uint32(v))
	}
	return dt.PropertyU32Array("reg", cells)
}

// BuildFDT writes the device tree blob for the machine.
func BuildFDT(c FDTConfig) ([]byte, error) {
	devs := &deviceTree{gic: c.GIC, ncpus: len(c.MPIDRs)}
	for _, d := range c.Devices {
		d.Describe(devs, d.Placement)
	}
	if len(devs.pciFuncs) > 0 && devs.pciHost == nil {
		return nil, fmt.Errorf("PCI functions without a PCI host bridge to describe them")
	}
	// The MSI controller's phandle follows the clocks', which devices
	// took as they described themselves.
	msiPhandle := firstClockPhandle + uint32(len(devs.clocks))
	root := dt.NewNode("",
		dt.WithProperty(
			Strings("compatible", "linux,dummy-virt"),
			dt.PropertyU32("#address-cells", 2),
			dt.PropertyU32("#size-cells", 2),
			dt.PropertyU32("interrupt-parent", gicPhandle),
		),
		dt.WithChildren(
			chosenNode(c, devs.stdout),
			dt.NewNode(fmt.Sprintf("memory@%x", c.RAMBase), dt.WithProperty(
				dt.PropertyString("device_type", "memory"),
				regs(c.RAMBase, c.RAMSize),
			)),
			cpusNode(c),
			dt.NewNode("psci", dt.WithProperty(
				Strings("compatible", "arm,psci-0.2"),
				dt.PropertyString("method", "hvc"),
			)),
			gicNode(c, devs.pciHost != nil, msiPhandle),
			timerNode(c),
		),
	)
	if c.PMUCompatible != "" {
		root.Children = append(root.Children, pmuNode(c))
	}
	root.Children = append(root.Children, devs.clocks...)
	for _, n := range devs.nodes {
		root.Children = append(root.Children, n.node)
	}
	if devs.pciHost != nil {
		root.Children = append(root.Children, pciNode(c, devs, msiPhandle))
	}
	fdt := &dt.FDT{
		Header:   dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16},
		RootNode: root,
	}
	var buf bytes.Buffer
	if _, err := fdt.Write(&buf); err != nil {
		return nil, fmt.Errorf("writing the device tree: %w", err)
	}
	if buf.Len() > MaxFDTSize {
		return nil, fmt.Errorf("the device tree is %d bytes, over booting.rst's 2 MiB", buf.Len())
	}
	return buf.Bytes(), nil
}

func chosenNode(c FDTConfig, stdout *deviceNode) *dt.Node {
	n := dt.NewNode("chosen", dt.WithProperty(dt.PropertyString("bootargs", c.Cmdline)))
	if stdout != nil {
		n.Properties = append(n.Properties, dt.PropertyString("stdout-path", "/"+stdout.node.Name))
	}
	if c.InitrdEnd > c.InitrdStart {
		n.Properties = append(n.Properties,
			dt.PropertyU64("linux,initrd-start", c.InitrdStart),
			dt.PropertyU64("linux,initrd-end", c.InitrdEnd))
	}
	if len(c.RNGSeed) > 0 {
		n.Properties = append(n.Properties, Bytes("rng-seed", c.RNGSeed))
	}
	return n
}

func cpusNode(c FDTConfig) *dt.Node {
	n := dt.NewNode("cpus", dt.WithProperty(
		dt.PropertyU32("#address-cells", 1),
		dt.PropertyU32("#size-cells", 0),
	))
	for _, mpidr := range c.MPIDRs {
		hwid := uint32(mpidr & MPIDRHWIDMask)
		n.Children = append(n.Children, dt.NewNode(fmt.Sprintf("cpu@%x", hwid), dt.WithProperty(
			dt.PropertyString("device_type", "cpu"),
			Strings("compatible", c.CPUCompatible),
			dt.PropertyString("enable-method", "psci"),
			dt.PropertyU32("reg", hwid),
		)))
	}
	return n
}

// gicNode is the GIC's node. With PCI it has address cells, for the
// host bridge's interrupt-map (as kvmtool has them), and an MSI
// controller below it.
func gicNode(c FDTConfig, pci bool, msiPhandle uint32) *dt.Node {
	props := []dt.Property{
		dt.PropertyU32("#interrupt-cells", 3),
		Empty("interrupt-controller"),
		dt.PropertyU32("phandle", gicPhandle),
	}
	switch c.GIC {
	case GICv3:
		ncpus := len(c.MPIDRs)
		props = append([]dt.Property{
			Strings("compatible", "arm,gic-v3"),
			regs(GICDistBase, GICDistSize, GICv3RedistBase(ncpus), uint64(ncpus)*GICv3RedistStride),
		}, props...)
	default:
		props = append([]dt.Property{
			Strings("compatible", "arm,cortex-a15-gic"),
			regs(GICDistBase, 0x1000, GICv2CPUBase, 0x2000),
		}, props...)
	}
	if pci || c.MSI != nil {
		props = append(props, dt.PropertyU32("#address-cells", gicAddressCells), dt.PropertyU32("#size-cells", 2))
	}
	n := dt.NewNode(fmt.Sprintf("intc@%x", GICDistBase), dt.WithProperty(props...))
	if c.MSI != nil {
		n.Properties = append(n.Properties, Empty("ranges"))
		n.Children = append(n.Children, dt.NewNode(fmt.Sprintf("msic@%x", c.MSI.Base), dt.WithProperty(
			Strings("compatible", c.MSI.Compatible),
			Empty("msi-controller"),
			dt.PropertyU32("phandle", msiPhandle),
			regs(c.MSI.Base, c.MSI.Size),
		)))
	}
	return n
}

// ppiFlags is a level-triggered private interrupt's flags cell: GICv2
// specifiers carry the mask of CPUs it goes to.
func ppiFlags(c FDTConfig) uint32 {
	flags := uint32(irqLevelHigh)
	if c.GIC == GICv2 {
		flags |= (1<<len(c.MPIDRs) - 1) << gicv2PPICPUShift
	}
	return flags
}

func pmuNode(c FDTConfig) *dt.Node {
	return dt.NewNode("pmu", dt.WithProperty(
		Strings("compatible", c.PMUCompatible),
		dt.PropertyU32Array("interrupts", []uint32{irqTypePPI, pmuPPI, ppiFlags(c)}),
	))
}

func timerNode(c FDTConfig) *dt.Node {
	flags := ppiFlags(c)
	var cells []uint32
	for _, ppi := range []uint32{TimerPPISecurePhys, TimerPPINonSecurePhys, TimerPPIVirt, TimerPPIHyp} {
		cells = append(cells, irqTypePPI, ppi, flags)
	}
	return dt.NewNode("timer", dt.WithProperty(
		Strings("compatible", c.TimerCompatible...),
		dt.PropertyU32Array("interrupts", cells),
		Empty("always-on"),
	))
}

// deviceTree is vmm.DeviceTree for mach-virt: device nodes at the root,
// interrupts as GIC SPI specifiers.
type deviceTree struct {
	gic    GICVersion
	ncpus  int
	nodes  []*deviceNode
	stdout *deviceNode
	// pciHost and pciFuncs are the PCI host bridge and its functions,
	// one node for them all (pci.go).
	pciHost  *vmm.Placement
	pciFuncs []vmm.Placement
	// clocks are the fixed clocks devices asked for, with their
	// phandles by name.
	clocks       []*dt.Node
	clockHandles map[string]uint32
}

var _ vmm.DeviceTree = (*deviceTree)(nil)

// AddDevice implements vmm.DeviceTree; a placement without an interrupt
// gets no interrupts property.
func (t *deviceTree) AddDevice(prefix string, p vmm.Placement, trigger vmm.Trigger) vmm.DeviceNode {
	flags := uint32(irqLevelHigh)
	if trigger == vmm.TriggerEdge {
		flags = irqEdgeRising
	}
	n := &deviceNode{node: dt.NewNode(fmt.Sprintf("%s@%x", prefix, p.Base), dt.WithProperty(regs(p.Base, p.Size)))}
	if p.IRQ != vmm.NoIRQ {
		n.node.Properties = append(n.node.Properties, dt.PropertyU32Array("interrupts", []uint32{irqTypeSPI, p.IRQ, flags}))
	}
	t.nodes = append(t.nodes, n)
	return n
}

// SetStdout implements vmm.DeviceTree.
func (t *deviceTree) SetStdout(n vmm.DeviceNode) {
	if dn, ok := n.(*deviceNode); ok {
		t.stdout = dn
	}
}

// firstClockPhandle follows the GIC's phandle.
const firstClockPhandle = gicPhandle + 1

// FixedClock implements vmm.DeviceTree: a "fixed-clock" node at the root,
// named name, as QEMU's virt board describes the PL011's apb-pclk.
func (t *deviceTree) FixedClock(name string, hz uint32) uint32 {
	if ph, ok := t.clockHandles[name]; ok {
		return ph
	}
	if t.clockHandles == nil {
		t.clockHandles = map[string]uint32{}
	}
	ph := firstClockPhandle + uint32(len(t.clocks))
	t.clockHandles[name] = ph
	t.clocks = append(t.clocks, dt.NewNode(name, dt.WithProperty(
		Strings("compatible", "fixed-clock"),
		dt.PropertyU32("#clock-cells", 0),
		dt.PropertyU32("clock-frequency", hz),
		Strings("clock-output-names", name),
		dt.PropertyU32("phandle", ph),
	)))
	return ph
}

// deviceNode is vmm.DeviceNode: one device's node.
type deviceNode struct{ node *dt.Node }

var _ vmm.DeviceNode = (*deviceNode)(nil)

// Strings implements vmm.DeviceNode. compatible goes first, where readers
// of a dts expect it.
func (n *deviceNode) Strings(name string, values ...string) {
	p := Strings(name, values...)
	if name == "compatible" {
		n.node.Properties = append([]dt.Property{p}, n.node.Properties...)
		return
	}
	n.node.Properties = append(n.node.Properties, p)
}

// U32 implements vmm.DeviceNode.
func (n *deviceNode) U32(name string, v uint32) {
	n.node.Properties = append(n.node.Properties, dt.PropertyU32(name, v))
}

// U32s implements vmm.DeviceNode.
func (n *deviceNode) U32s(name string, v ...uint32) {
	n.node.Properties = append(n.node.Properties, dt.PropertyU32Array(name, v))
}

// Flag implements vmm.DeviceNode.
func (n *deviceNode) Flag(name string) {
	n.node.Properties = append(n.node.Properties, Empty(name))
}
