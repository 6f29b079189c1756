package kvm

import (
	"fmt"
	"runtime"
	"unsafe"
)

// VcpuInit is struct kvm_vcpu_init: the vcpu target and feature bits of
// KVM_ARM_VCPU_INIT.
type VcpuInit struct {
	Target   uint32
	Features [7]uint32
}

// PreferredTarget asks KVM which vcpu target matches the host CPU
// (KVM_ARM_PREFERRED_TARGET); it differs between CPUs, so it is never
// assumed.
func (vm *VM) PreferredTarget() (uint32, error) {
	var init VcpuInit
	_, err := ioctl(vm.fd, kvmArmPreferredTarget, uintptr(unsafe.Pointer(&init)))
	runtime.KeepAlive(&init)
	if err != nil {
		return 0, fmt.Errorf("KVM_ARM_PREFERRED_TARGET: %w", err)
	}
	return init.Target, nil
}

// ArmInit runs KVM_ARM_VCPU_INIT.
func (v *Vcpu) ArmInit(init VcpuInit) error {
	_, err := ioctl(v.fd, kvmArmVcpuInit, uintptr(unsafe.Pointer(&init)))
	runtime.KeepAlive(&init)
	if err != nil {
		return fmt.Errorf("KVM_ARM_VCPU_INIT on vcpu %d (target %d, features %#x): %w", v.ID, init.Target, init.Features[0], err)
	}
	return nil
}
