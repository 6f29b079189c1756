package arm64

import (
	"github.com/gokvm/gokvm/vmm/kvm"
)

// initVcpu runs KVM_ARM_VCPU_INIT with PSCI 0.2 and the given extra
// features; every vcpu but the boot one starts powered off and is brought
// up by the guest through PSCI CPU_ON.
func initVcpu(v *kvm.Vcpu, target uint32, features ...int) error {
	init := kvm.VcpuInit{Target: target}
	features = append(features, VcpuFeaturePSCI02)
	if v.ID != 0 {
		features = append(features, VcpuFeaturePowerOff)
	}
	for _, f := range features {
		init.Features[f/32] |= 1 << (f % 32)
	}
	return v.ArmInit(init)
}

// setBootRegs puts the boot vcpu at the kernel entry as booting.rst asks:
// x0 = device tree address, x1..x3 = 0, EL1h with interrupts masked.
func setBootRegs(v *kvm.Vcpu, entry, fdt uint64) error {
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
