package arm64

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/gokvm/gokvm/devices/uart"
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
	// Devices are the UARTs and virtio-mmio windows placed on the board.
	Devices []vmm.DevicePlacement
	Cmdline string
	// InitrdStart and InitrdEnd are 0 when there is no initrd.
	InitrdStart, InitrdEnd uint64
	// CPUCompatible is the cpu nodes' compatible string.
	CPUCompatible string
	// TimerCompatible lists the timer node's compatible strings.
	TimerCompatible []string
	// RNGSeed, when not empty, seeds the guest's entropy pool early.
	RNGSeed []byte
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
	root := dt.NewNode("",
		dt.WithProperty(
			Strings("compatible", "linux,dummy-virt"),
			dt.PropertyU32("#address-cells", 2),
			dt.PropertyU32("#size-cells", 2),
			dt.PropertyU32("interrupt-parent", gicPhandle),
		),
		dt.WithChildren(
			chosenNode(c),
			dt.NewNode(fmt.Sprintf("memory@%x", c.RAMBase), dt.WithProperty(
				dt.PropertyString("device_type", "memory"),
				regs(c.RAMBase, c.RAMSize),
			)),
			cpusNode(c),
			dt.NewNode("psci", dt.WithProperty(
				Strings("compatible", "arm,psci-0.2"),
				dt.PropertyString("method", "hvc"),
			)),
			gicNode(c),
			timerNode(c),
		),
	)
	for _, d := range c.Devices {
		n, err := deviceNode(d)
		if err != nil {
			return nil, err
		}
		root.Children = append(root.Children, n)
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

func chosenNode(c FDTConfig) *dt.Node {
	n := dt.NewNode("chosen", dt.WithProperty(dt.PropertyString("bootargs", c.Cmdline)))
	for _, d := range c.Devices {
		if d.Kind == vmm.DeviceUART {
			n.Properties = append(n.Properties, dt.PropertyString("stdout-path", "/"+nodeName(d)))
			break
		}
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

func gicNode(c FDTConfig) *dt.Node {
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
	return dt.NewNode(fmt.Sprintf("intc@%x", GICDistBase), dt.WithProperty(props...))
}

func timerNode(c FDTConfig) *dt.Node {
	flags := uint32(irqLevelHigh)
	if c.GIC == GICv2 {
		// GICv2 PPI specifiers carry the mask of CPUs they go to.
		flags |= (1<<len(c.MPIDRs) - 1) << gicv2PPICPUShift
	}
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

func nodeName(d vmm.DevicePlacement) string {
	switch d.Kind {
	case vmm.DeviceUART:
		return fmt.Sprintf("uart@%x", d.Base)
	case vmm.DeviceVirtioMMIO:
		return fmt.Sprintf("virtio@%x", d.Base)
	}
	return fmt.Sprintf("device@%x", d.Base)
}

func deviceNode(d vmm.DevicePlacement) (*dt.Node, error) {
	irq := dt.PropertyU32Array("interrupts", []uint32{irqTypeSPI, d.IRQ, irqLevelHigh})
	// virtio-mmio interrupts are edges: each used-buffer notification is
	// one irqfd write, as in kvmtool.
	edge := dt.PropertyU32Array("interrupts", []uint32{irqTypeSPI, d.IRQ, irqEdgeRising})
	switch d.Kind {
	case vmm.DeviceUART:
		return dt.NewNode(nodeName(d), dt.WithProperty(
			Strings("compatible", "ns16550a"),
			regs(d.Base, d.Size),
			irq,
			dt.PropertyU32("clock-frequency", uart.ClockHz),
		)), nil
	case vmm.DeviceVirtioMMIO:
		return dt.NewNode(nodeName(d), dt.WithProperty(
			Strings("compatible", "virtio,mmio"),
			regs(d.Base, d.Size),
			edge,
			Empty("dma-coherent"),
		)), nil
	}
	return nil, fmt.Errorf("no device tree binding for device kind %d at %#x", d.Kind, d.Base)
}
