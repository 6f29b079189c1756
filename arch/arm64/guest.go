package arm64

import (
	"errors"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// Guest is what differs between the kernels the mach-virt board boots:
// an AArch64 Image (here) or an AArch32 zImage (package arm). The memory
// map, GIC, timer, devices and device tree are the board's and shared.
type Guest interface {
	// Name says what kind of guest it is, for messages.
	Name() string
	// Load parses the kernel file.
	Load(kernel []byte) (Kernel, error)
	// CheckRAM refuses RAM the guest cannot use.
	CheckRAM(ramBase, ramSize uint64) error
	// PlacementLimit caps where initrd and device tree may go (0: none).
	PlacementLimit(ramBase, ramSize uint64) uint64
	// CheckHost fails when the host's KVM cannot run this guest.
	CheckHost(caps CapabilityChecker) error
	// VcpuFeatures are KVM_ARM_VCPU_INIT features beyond PSCI 0.2.
	VcpuFeatures() []int
	// MPIDRReg is the one-reg id of the vcpu's MPIDR on this host.
	MPIDRReg() uint64
	// SetBootRegs starts the boot vcpu at entry with the device tree at
	// fdt, as the guest's boot protocol asks.
	SetBootRegs(v *kvm.Vcpu, entry, fdt uint64) error
	// CPUCompatible and TimerCompatible go into the device tree.
	CPUCompatible() string
	TimerCompatible() []string
	// MaxCmdline is the kernel's COMMAND_LINE_SIZE.
	MaxCmdline() int
	// DescribeRegs says where a vcpu is (pc, mode) for a state dump.
	DescribeRegs(v *kvm.Vcpu) string
	// AArch64Features reports whether the guest's vcpus can have SVE and
	// pointer authentication (KVM offers them to AArch64 vcpus only).
	AArch64Features() bool
	// PMUCompatible is the PMU node's compatible string.
	PMUCompatible() string
}

// Kernel is a parsed kernel: its bytes and where they go.
type Kernel struct {
	Data []byte
	// Offset is the load address above the 2 MiB aligned start of RAM;
	// the entry point is there too.
	Offset uint64
	// Size is the memory the kernel needs from its load address (BSS,
	// decompression).
	Size uint64
	// FlatWhy, when not empty, says the file is not in the guest's
	// kernel format ("has no arm64 Image header"): it is a flat binary,
	// placed as kvmtool places one (FlatKernel).
	FlatWhy string
}

// CapabilityChecker answers KVM_CHECK_EXTENSION (a *kvm.System, or a fake
// in tests).
type CapabilityChecker interface {
	CheckExtension(c kvm.Capability) int
}

// AArch64 is the guest of an arm64 Image.
type AArch64 struct{}

// Name implements Guest.
func (AArch64) Name() string { return "AArch64" }

// Load implements Guest: an arm64 Image, or as kvmtool does, any file
// without the Image header as a flat binary.
func (AArch64) Load(b []byte) (Kernel, error) {
	img, err := ParseImage(b)
	var nh *NoHeaderError
	if errors.As(err, &nh) {
		why := "has no arm64 Image header"
		if nh.Gzipped {
			why = "once decompressed, " + why
		}
		if nh.Looks != "" {
			why += " (it looks like " + nh.Looks + ")"
		}
		return FlatKernel(nh.Data, FlatOffset, why), nil
	}
	if err != nil {
		return Kernel{}, err
	}
	return Kernel{Data: img.Data, Offset: img.TextOffset, Size: img.Size}, nil
}

// CheckRAM implements Guest: arm64 guests take RAM anywhere in the IPA
// space; MachineType checks the host offers enough of it.
func (AArch64) CheckRAM(uint64, uint64) error { return nil }

// PlacementLimit implements Guest: no limit.
func (AArch64) PlacementLimit(uint64, uint64) uint64 { return 0 }

// CheckHost implements Guest: nothing beyond the board's own checks.
func (AArch64) CheckHost(CapabilityChecker) error { return nil }

// VcpuFeatures implements Guest.
func (AArch64) VcpuFeatures() []int { return nil }

// MPIDRReg implements Guest.
func (AArch64) MPIDRReg() uint64 { return RegMPIDR }

// SetBootRegs implements Guest.
func (AArch64) SetBootRegs(v *kvm.Vcpu, entry, fdt uint64) error { return setBootRegs(v, entry, fdt) }

// CPUCompatible implements Guest.
func (AArch64) CPUCompatible() string { return "arm,arm-v8" }

// TimerCompatible implements Guest.
func (AArch64) TimerCompatible() []string { return []string{"arm,armv8-timer", "arm,armv7-timer"} }

// MaxCmdline implements Guest.
func (AArch64) MaxCmdline() int { return maxCmdline }

// AArch64Features implements Guest.
func (AArch64) AArch64Features() bool { return true }

// PMUCompatible implements Guest.
func (AArch64) PMUCompatible() string { return "arm,armv8-pmuv3" }
