package arm

import (
	"fmt"

	"github.com/gokvm/gokvm/arch/arm64"
	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

const (
	// kernelOffset is where the zImage goes above the start of RAM, as
	// kvmtool places it: the decompressor then writes the kernel at
	// RAM+0x8000 without having to move itself first.
	kernelOffset = 0x8000
	// decompressFactor reserves room for the decompressed kernel and the
	// decompressor: a zImage grows about four times.
	decompressFactor = 5
	// lowmemLimit keeps the initrd and device tree where any 32-bit
	// kernel maps them early (kvmtool uses the same 256 MiB).
	lowmemLimit = arm64.LowmemLimit
	// maxCmdline is arm's COMMAND_LINE_SIZE.
	maxCmdline = 1024
	// ramLimit: 32-bit guests get RAM below 4 GiB.
	ramLimit = 1 << 32
)

// AArch32 is the guest of a 32-bit ARM zImage.
type AArch32 struct {
	// Host32 says gokvm runs on a 32-bit ARM host; AArch32 guests there
	// need no EL1_32BIT feature and use other register ids.
	Host32 bool
}

// NewGuest is the AArch32 guest for the host gokvm runs on.
func NewGuest() AArch32 { return AArch32{Host32: hostIs32Bit()} }

// New makes the mach-virt board booting a 32-bit guest.
func New(opts arm64.Options) *arm64.Board {
	opts.Guest = NewGuest()
	return arm64.New(opts)
}

// Name implements arm64.Guest.
func (AArch32) Name() string { return "AArch32" }

// Load implements arm64.Guest: a zImage, or as kvmtool does, any file
// without the zImage magic as a flat binary, at the same offset.
func (AArch32) Load(b []byte) (arm64.Kernel, error) {
	if isFlat(b) {
		return arm64.FlatKernel(b, kernelOffset, "has no zImage magic"), nil
	}
	z, err := ParseZImage(b)
	if err != nil {
		return arm64.Kernel{}, err
	}
	return arm64.Kernel{Data: z.Data, Offset: kernelOffset, Size: decompressFactor * uint64(len(z.Data))}, nil
}

// CheckRAM implements arm64.Guest.
func (AArch32) CheckRAM(base, size uint64) error {
	if base+size > ramLimit || base+size < base {
		return vmm.Configf("a 32-bit guest's RAM must end below 4 GiB; %d MiB at %#x ends at %#x", size>>20, base, base+size)
	}
	return nil
}

// PlacementLimit implements arm64.Guest.
func (AArch32) PlacementLimit(base, size uint64) uint64 { return base + min(size, lowmemLimit) }

// CheckHost implements arm64.Guest: an arm64 host must let AArch32 run at
// EL1, which some CPUs (Neoverse N1, Apple M1) do not.
func (g AArch32) CheckHost(caps arm64.CapabilityChecker) error {
	if g.Host32 {
		return nil
	}
	if caps.CheckExtension(kvm.CapArmEL132Bit) <= 0 {
		return fmt.Errorf("%w: this host's CPUs run 32-bit code only at EL0, so they cannot run 32-bit guest kernels",
			&kvm.MissingCapabilityError{Cap: kvm.CapArmEL132Bit, For: "--aarch32"})
	}
	return nil
}

// VcpuFeatures implements arm64.Guest.
func (g AArch32) VcpuFeatures() []int {
	if g.Host32 {
		return nil
	}
	return []int{arm64.VcpuFeatureEL132Bit}
}

// MPIDRReg implements arm64.Guest.
func (g AArch32) MPIDRReg() uint64 { return hostRegs(g.Host32).MPIDR }

// BootRegs are the 32-bit boot protocol's registers for a kernel at entry
// and a device tree at fdt: r0 = 0, r1 = ~0, r2 = device tree, SVC mode
// with interrupts masked.
func (g AArch32) BootRegs(entry, fdt uint64) [][2]uint64 {
	r := hostRegs(g.Host32)
	return [][2]uint64{
		{r.R0, 0},
		{r.R1, MachineTypeAny},
		{r.R2, fdt},
		{r.CPSR, BootCPSR},
		{r.PC, entry},
	}
}

// SetBootRegs implements arm64.Guest.
func (g AArch32) SetBootRegs(v *kvm.Vcpu, entry, fdt uint64) error {
	if entry >= ramLimit || fdt >= ramLimit {
		return fmt.Errorf("a 32-bit guest cannot start at %#x with its device tree at %#x", entry, fdt)
	}
	for _, r := range g.BootRegs(entry, fdt) {
		if err := v.SetOneReg(r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}

// CPUCompatible implements arm64.Guest.
func (AArch32) CPUCompatible() string { return "arm,cortex-a15" }

// TimerCompatible implements arm64.Guest.
func (AArch32) TimerCompatible() []string { return []string{"arm,armv7-timer"} }

// AArch64Features implements arm64.Guest: KVM gives AArch32 vcpus no SVE
// and no pointer authentication.
func (AArch32) AArch64Features() bool { return false }

// PMUCompatible implements arm64.Guest: the Cortex-A15's PMU, which
// 32-bit kernels drive on a PMUv3.
func (AArch32) PMUCompatible() string { return "arm,cortex-a15-pmu" }

// MaxCmdline implements arm64.Guest.
func (AArch32) MaxCmdline() int { return maxCmdline }

// DescribeRegs implements arm64.Guest: pc, the current mode's lr and the
// CPSR.
func (g AArch32) DescribeRegs(v *kvm.Vcpu) string {
	r := hostRegs(g.Host32)
	return arm64.FormatRegs(v, r.PC, r.CPSR,
		func(cpsr uint64) uint64 { return lrReg(g.Host32, cpsr) },
		func(cpsr uint64) string { return cpsrModes[cpsr&0x1f] })
}
