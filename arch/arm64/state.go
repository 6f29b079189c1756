package arm64

import (
	"fmt"
	"os"
	"slices"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/kvm"
	"github.com/gokvm/gokvm/vmm/snapshot"
)

var _ vmm.StateBoard = (*Board)(nil)

// HostState implements vmm.StateBoard: the GIC and the vcpu features the
// machine was made with, which a restore must make again.
func (b *Board) HostState() snapshot.Host {
	h := snapshot.Host{GIC: b.GIC().String(), PageSize: os.Getpagesize()}
	h.Features = b.featureNames()
	return h
}

// featureNames names the optional vcpu features in use.
func (b *Board) featureNames() []string {
	var fs []string
	if len(b.guest.VcpuFeatures()) > 0 {
		fs = append(fs, "el1-32bit")
	}
	if b.pmu {
		fs = append(fs, "pmu-v3")
	}
	if b.sve {
		fs = append(fs, "sve")
	}
	if b.ptrauth {
		fs = append(fs, "ptrauth")
	}
	return fs
}

// PrepareRestore implements vmm.StateBoard: RAM as Prepare checks it, the
// saved GIC asked for by name (a host that cannot make it says so), and
// the saved features to check once the host's are known (CheckHost).
func (b *Board) PrepareRestore(h snapshot.Host, ramBase, ramSize uint64, cpus int) error {
	if err := b.checkRAM(ramBase, ramSize); err != nil {
		return err
	}
	if h.PageSize != os.Getpagesize() {
		return vmm.Configf("the state was saved on a host with %d-byte pages; this one has %d", h.PageSize, os.Getpagesize())
	}
	switch h.GIC {
	case GICv3.String():
		b.opts.IRQChip = IRQChipGICv3
	case GICv2.String():
		b.opts.IRQChip = IRQChipGICv2
	default:
		return vmm.Configf("the state names interrupt controller %q; gokvm makes gicv3 or gicv2", h.GIC)
	}
	b.ramBase, b.ramSize = ramBase, ramSize
	b.restoring = &h
	return nil
}

// checkRestoreFeatures runs once CheckHost decided the features: they must
// be the saved machine's.
func (b *Board) checkRestoreFeatures() error {
	if b.restoring == nil {
		return nil
	}
	saved, here := append([]string(nil), b.restoring.Features...), b.featureNames()
	slices.Sort(saved)
	slices.Sort(here)
	if !slices.Equal(saved, here) {
		return vmm.Configf("the state was saved with vcpu features %v; here the vcpus would have %v (another host, or other --pmu, --disable-sve, --disable-ptrauth)", saved, here)
	}
	return nil
}

// SaveVcpu implements vmm.StateBoard.
func (b *Board) SaveVcpu(v *kvm.Vcpu) ([]byte, error) { return saveVcpu(v) }

// RestoreVcpu implements vmm.StateBoard.
func (b *Board) RestoreVcpu(v *kvm.Vcpu, state []byte) error { return restoreVcpu(v, state) }

// SaveIRQChip implements vmm.StateBoard.
func (b *Board) SaveIRQChip(vcpus []*kvm.Vcpu) ([]byte, error) {
	if b.gic == nil {
		return nil, fmt.Errorf("no interrupt controller")
	}
	if b.gic.msi != noMSI {
		return nil, fmt.Errorf("%w: the state of an MSI controller (--irqchip gicv3-its or gicv2m) is not saved yet; --irqchip gicv3 or gicv2 makes a machine that can be", vmm.ErrNotSaveable)
	}
	return b.gic.save(b.mpidrs)
}

// RestoreIRQChip implements vmm.StateBoard.
func (b *Board) RestoreIRQChip(vcpus []*kvm.Vcpu, state []byte) error {
	if b.gic == nil {
		return fmt.Errorf("no interrupt controller")
	}
	return b.gic.restore(b.mpidrs, state)
}

// Close releases the interrupt controller's device.
func (b *Board) Close() error {
	if b.gic == nil {
		return nil
	}
	return b.gic.close()
}
