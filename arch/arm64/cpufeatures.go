package arm64

import (
	"fmt"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
)

// CPUFeatures are the optional architecture features the guest's vcpus
// get, as kvmtool offers them.
type CPUFeatures struct {
	// PMU gives each vcpu a PMUv3 (kvmtool's --pmu).
	PMU bool
	// DisableSVE turns SVE off; otherwise a host with SVE gives it to
	// AArch64 guests (kvmtool's --disable-sve).
	DisableSVE bool
	// SVEMaxVL, when not 0, is the largest vector length in bits the
	// guest may use, a multiple of 128 (kvmtool's --sve-max-vl).
	SVEMaxVL int
	// DisablePtrAuth turns pointer authentication off; otherwise a host
	// with it gives it to AArch64 guests (--disable-ptrauth).
	DisablePtrAuth bool
}

// pmuPPI is the PMU's private interrupt, as kvmtool has it (INTID 23:
// private interrupts are INTIDs 16 to 31).
const (
	pmuPPI  = 7
	ppiBase = 16
)

// PMU attributes of a vcpu (asm/kvm.h).
const (
	vcpuPMUCtrl = 0
	vcpuPMUIRQ  = 0
	vcpuPMUInit = 1
)

// maxSVEVL is the architecture's largest SVE vector length in bits.
const maxSVEVL = 2048

// CheckSVEMaxVL checks a --sve-max-vl value.
func CheckSVEMaxVL(bits int) error {
	if bits < 128 || bits > maxSVEVL || bits%128 != 0 {
		return vmm.Configf("--sve-max-vl %d: want a multiple of 128 from 128 to %d", bits, maxSVEVL)
	}
	return nil
}

// features decides, once the host is known, which optional features the
// vcpus get: asked-for features the host lacks are errors naming the
// capability; SVE and pointer authentication are on where the host has
// them, unless turned off.
func (b *Board) features(sys *kvm.System) error {
	f := b.opts.CPU
	aarch64 := b.guest.AArch64Features()
	if f.PMU {
		if err := sys.Require(kvm.CapArmPMUv3, "--pmu"); err != nil {
			return err
		}
		b.pmu = true
	}
	hasSVE := sys.CheckExtension(kvm.CapArmSVE) > 0
	switch {
	case f.SVEMaxVL != 0 && f.DisableSVE:
		return vmm.Configf("--sve-max-vl and --disable-sve contradict each other")
	case f.SVEMaxVL != 0 && !aarch64:
		return vmm.Configf("--sve-max-vl: SVE is for AArch64 guests, not %s", b.guest.Name())
	case f.SVEMaxVL != 0 && !hasSVE:
		return &kvm.MissingCapabilityError{Cap: kvm.CapArmSVE, For: "--sve-max-vl"}
	}
	b.sve = hasSVE && aarch64 && !f.DisableSVE
	b.ptrauth = aarch64 && !f.DisablePtrAuth &&
		sys.CheckExtension(kvm.CapArmPtrAuthAdr) > 0 && sys.CheckExtension(kvm.CapArmPtrAuthGen) > 0
	return nil
}

// featureBits are the KVM_ARM_VCPU_INIT features for the chosen options.
func (b *Board) featureBits() []int {
	fs := append([]int(nil), b.guest.VcpuFeatures()...)
	if b.pmu {
		fs = append(fs, VcpuFeaturePMUv3)
	}
	if b.sve {
		fs = append(fs, VcpuFeatureSVE)
	}
	if b.ptrauth {
		fs = append(fs, VcpuFeaturePtrAuthAdr, VcpuFeaturePtrAuthGen)
	}
	return fs
}

// finalizeSVE limits the vcpu's vector lengths to SVEMaxVL and finalizes
// SVE, as api.rst asks before the vcpu runs. Without a limit the vcpu keeps
// every length the host offers, its largest included.
func (b *Board) finalizeSVE(v *kvm.Vcpu) error {
	if !b.sve {
		return nil
	}
	if max := b.opts.CPU.SVEMaxVL; max != 0 {
		vls, err := v.GetOneReg512(RegSVEVLS)
		if err != nil {
			return fmt.Errorf("reading the SVE vector lengths: %w", err)
		}
		kept := false
		for vq := 1; vq <= maxSVEVL/128; vq++ {
			word, bit := (vq-1)/64, uint((vq-1)%64)
			if vq*128 > max {
				vls[word] &^= 1 << bit
			} else if vls[word]&(1<<bit) != 0 {
				kept = true
			}
		}
		if !kept {
			return vmm.Configf("--sve-max-vl %d: this host offers no SVE vector length of %d bits or less", max, max)
		}
		if err := v.SetOneReg512(RegSVEVLS, vls); err != nil {
			return fmt.Errorf("limiting the SVE vector lengths to %d bits: %w", max, err)
		}
	}
	return v.Finalize(VcpuFeatureSVE)
}

// initPMU gives every vcpu its PMU interrupt and initialises the PMU; KVM
// wants the VGIC initialised first.
func (b *Board) initPMU() error {
	if !b.pmu {
		return nil
	}
	for _, v := range b.vcpus {
		if err := v.SetAttrInt(vcpuPMUCtrl, vcpuPMUIRQ, ppiBase+pmuPPI); err != nil {
			return fmt.Errorf("setting the PMU interrupt of vcpu %d: %w", v.ID, err)
		}
		if err := v.SetAttrNone(vcpuPMUCtrl, vcpuPMUInit); err != nil {
			return fmt.Errorf("initialising the PMU of vcpu %d: %w", v.ID, err)
		}
	}
	return nil
}
