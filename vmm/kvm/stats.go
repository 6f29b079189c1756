package kvm

import (
	"fmt"
	"strconv"
)

// StatsFD opens the VM's binary statistics (KVM_GET_STATS_FD,
// api.rst 4.133; KVM_CAP_BINARY_STATS_FD, Linux 5.14): a read-only file
// of KVM's counters for the VM, which package kvmstats reads. The caller
// owns the descriptor. ErrUnsupported on an older kernel.
func (vm *VM) StatsFD() (int, error) {
	return statsFD(vm.sys, vm.fd, "VM")
}

// StatsFD opens the vcpu's binary statistics (exits by reason, halt
// polling and wakeups), as VM.StatsFD.
func (v *Vcpu) StatsFD() (int, error) {
	return statsFD(v.vm.sys, v.fd, "vcpu "+strconv.Itoa(v.ID))
}

func statsFD(sys *System, fd int, what string) (int, error) {
	if sys.CheckExtension(CapBinaryStatsFD) <= 0 {
		return -1, ErrUnsupported
	}
	r, err := ioctl(fd, kvmGetStatsFD, 0)
	if err != nil {
		return -1, fmt.Errorf("KVM_GET_STATS_FD on the %s: %w", what, err)
	}
	return int(r), nil
}

// DebugfsName is the name of the VM's directory in debugfs's kvm
// directory, where kernels without binary statistics (and those with)
// show its counters: the id of the thread that created the VM, a dash,
// and the VM's descriptor (virt/kvm/kvm_main.c, kvm_create_vm_debugfs).
func (vm *VM) DebugfsName() string {
	return strconv.Itoa(vm.creator) + "-" + strconv.Itoa(vm.fd)
}
