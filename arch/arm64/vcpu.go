package arm64

import (
	"fmt"
	"unsafe"

	"github.com/gokvm/gokvm/vmm"
)

// vcpuInit is struct kvm_vcpu_init.
type vcpuInit struct {
	target   uint32
	features [7]uint32
}

// preferredTarget asks KVM which vcpu target matches the host CPU; it
// differs between CPUs, so it is never assumed.
func preferredTarget(vm *vmm.VM) (uint32, error) {
	var init vcpuInit
	if err := vm.Ioctl(ioctlArmPreferredTarget, unsafe.Pointer(&init)); err != nil {
		return 0, fmt.Errorf("KVM_ARM_PREFERRED_TARGET: %w", err)
	}
	return init.target, nil
}

// initVcpu runs KVM_ARM_VCPU_INIT with PSCI 0.2 and the given extra
// features; every vcpu but the boot one starts powered off and is brought
// up by the guest through PSCI CPU_ON.
func initVcpu(v *vmm.Vcpu, target uint32, features ...int) error {
	init := vcpuInit{target: target}
	features = append(features, VcpuFeaturePSCI02)
	if v.ID != 0 {
		features = append(features, VcpuFeaturePowerOff)
	}
	for _, f := range features {
		init.features[f/32] |= 1 << (f % 32)
	}
	if err := v.Ioctl(ioctlArmVcpuInit, unsafe.Pointer(&init)); err != nil {
		return fmt.Errorf("KVM_ARM_VCPU_INIT on vcpu %d (target %d, features %#x): %w", v.ID, target, init.features[0], err)
	}
	return nil
}

// setBootRegs puts the boot vcpu at the kernel entry as booting.rst asks:
// x0 = device tree address, x1..x3 = 0, EL1h with interrupts masked.
func setBootRegs(v *vmm.Vcpu, entry, fdt uint64) error {
	for _, r := range []struct {
		id, val uint64
	}{
		{RegX(0), fdt}, {RegX(1), 0}, {RegX(2), 0}, {RegX(3), 0},
		{RegPSTATE, BootPSTATE},
		{RegPC, entry},
	} {
		if err := v.SetOneReg(r.id, r.val); err != nil {
			return err
		}
	}
	return nil
}
