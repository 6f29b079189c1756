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

// Finalize runs KVM_ARM_VCPU_FINALIZE for a feature that needs it (SVE,
// once its vector lengths are set), before the vcpu first runs.
func (v *Vcpu) Finalize(feature int) error {
	f := int32(feature)
	_, err := ioctl(v.fd, kvmArmVcpuFinalize, uintptr(unsafe.Pointer(&f)))
	runtime.KeepAlive(&f)
	if err != nil {
		return fmt.Errorf("KVM_ARM_VCPU_FINALIZE (feature %d) on vcpu %d: %w", feature, v.ID, err)
	}
	return nil
}

// SetAttrInt sets a vcpu device attribute that takes an int (the PMU's
// interrupt); SetAttrNone one that takes no value (the PMU's init).
func (v *Vcpu) SetAttrInt(group uint32, attr uint64, val int32) error {
	a := deviceAttr{group: group, attr: attr, addr: uint64(uintptr(unsafe.Pointer(&val)))}
	_, err := ioctl(v.fd, kvmSetDeviceAttr, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	runtime.KeepAlive(&val)
	return err
}

// SetAttrNone sets a vcpu device attribute that takes no value.
func (v *Vcpu) SetAttrNone(group uint32, attr uint64) error {
	a := deviceAttr{group: group, attr: attr}
	_, err := ioctl(v.fd, kvmSetDeviceAttr, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	return err
}

// Reg512 is a 512-bit register's value, least significant word first (the
// SVE vector-lengths bitmap).
type Reg512 [8]uint64

// GetOneReg512 reads a 512-bit register.
func (v *Vcpu) GetOneReg512(id uint64) (Reg512, error) {
	var val Reg512
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val)))}
	_, err := ioctl(v.fd, kvmGetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	runtime.KeepAlive(&val)
	if err != nil {
		return val, fmt.Errorf("KVM_GET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return val, nil
}

// SetOneReg512 writes a 512-bit register.
func (v *Vcpu) SetOneReg512(id uint64, val Reg512) error {
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val)))}
	_, err := ioctl(v.fd, kvmSetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	runtime.KeepAlive(&val)
	if err != nil {
		return fmt.Errorf("KVM_SET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return nil
}
