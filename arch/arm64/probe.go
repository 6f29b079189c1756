package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/vmm/kvm"
)

// ProbeGIC reports whether the host's KVM can emulate a GIC of version v,
// by creating one in a scratch VM: the capability alone does not tell (a
// GICv3 host cannot always emulate a GICv2).
func ProbeGIC(sys *kvm.System, v GICVersion) (bool, error) {
	vm, err := sys.CreateVM(0)
	if err != nil {
		return false, err
	}
	defer vm.Close()
	typ := uint32(kvmDevTypeVGICv3)
	if v == GICv2 {
		typ = kvmDevTypeVGICv2
	}
	d, err := vm.CreateDevice(typ)
	if err != nil {
		return false, nil
	}
	d.Close()
	return true, nil
}

// ProbeSVEMaxVL is the largest SVE vector length in bits that the host's
// KVM gives a vcpu, read from a scratch vcpu; 0 without SVE.
func ProbeSVEMaxVL(sys *kvm.System) (int, error) {
	if sys.CheckExtension(kvm.CapArmSVE) <= 0 {
		return 0, nil
	}
	vm, err := sys.CreateVM(0)
	if err != nil {
		return 0, err
	}
	defer vm.Close()
	target, err := vm.PreferredTarget()
	if err != nil {
		return 0, err
	}
	v, err := vm.CreateVcpu(0)
	if err != nil {
		return 0, err
	}
	defer v.Close()
	if err := initVcpu(v, target, VcpuFeatureSVE); err != nil {
		return 0, err
	}
	vls, err := v.GetOneReg512(RegSVEVLS)
	if err != nil {
		return 0, fmt.Errorf("reading the SVE vector lengths: %w", err)
	}
	max := 0
	for vq := 1; vq <= maxSVEVL/128; vq++ {
		if vls[(vq-1)/64]&(1<<uint((vq-1)%64)) != 0 {
			max = vq * 128
		}
	}
	return max, nil
}
