// Package kvm holds gokvm's handles on the host's KVM: the system device,
// VMs, vcpus and their shared kvm_run page, in-kernel devices, eventfds,
// irqfds and ioeventfds. Every ioctl number and every use of unsafe that
// talks to KVM is here; the rest of gokvm calls typed methods.
package kvm

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// KVM ioctl request numbers and capability ids, taken from the Linux uapi
// headers (linux/kvm.h, asm/kvm.h). They are the same for arm64 and 32-bit
// arm hosts; the struct sizes encoded in them do not depend on the word size.
const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmCheckExtension      = 0xae03
	kvmGetVcpuMmapSize     = 0xae04
	kvmCreateVcpu          = 0xae41
	kvmSetUserMemoryRegion = 0x4020ae46
	kvmIRQLine             = 0x4008ae61
	kvmIRQFD               = 0x4020ae76
	kvmIOEventFD           = 0x4040ae79
	kvmRun                 = 0xae80
	kvmGetMPState          = 0x8004ae98
	kvmGetOneReg           = 0x4010aeab
	kvmSetOneReg           = 0x4010aeac
	kvmArmVcpuInit         = 0x4020aeae
	kvmArmPreferredTarget  = 0x8020aeaf
	kvmCreateDevice        = 0xc00caee0
	kvmSetDeviceAttr       = 0x4018aee1
	kvmHasDeviceAttr       = 0x4018aee3
	kvmArmVcpuFinalize     = 0x4004aec2
	kvmGetRegList          = 0xc008aeb0
	kvmSetMPState          = 0x4004ae99
	kvmGetVcpuEvents       = 0x8040ae9f
	kvmSetVcpuEvents       = 0x4040aea0
	kvmGetDeviceAttr       = 0x4018aee2
	kvmSetGSIRouting       = 0x4008ae6a
	kvmGetStatsFD          = 0xaece // _IO(KVMIO, 0xce)
	kvmAPIVersionSupported = 12
)

// Capability is a KVM_CAP_* extension number.
type Capability uintptr

// Capabilities the project asks about.
const (
	CapUserMemory    Capability = 3
	CapNrVcpus       Capability = 9
	CapIRQRouting    Capability = 25
	CapIRQFD         Capability = 32
	CapIOEventFD     Capability = 36
	CapMaxVcpus      Capability = 66
	CapOneReg        Capability = 70
	CapReadonlyMem   Capability = 81
	CapDeviceCtrl    Capability = 89
	CapArmEL132Bit   Capability = 93
	CapArmPSCI02     Capability = 102
	CapImmediateExit Capability = 136
	CapArmVMIPASize  Capability = 165
	CapArmPMUv3      Capability = 126
	CapArmSVE        Capability = 170
	CapArmPtrAuthAdr Capability = 171
	CapArmPtrAuthGen Capability = 172
	CapArmMTE        Capability = 205
	CapMSIDevID      Capability = 131
	CapBinaryStatsFD Capability = 203
)

var capNames = map[Capability]string{
	CapUserMemory:    "KVM_CAP_USER_MEMORY",
	CapNrVcpus:       "KVM_CAP_NR_VCPUS",
	CapIRQRouting:    "KVM_CAP_IRQ_ROUTING",
	CapIRQFD:         "KVM_CAP_IRQFD",
	CapIOEventFD:     "KVM_CAP_IOEVENTFD",
	CapMaxVcpus:      "KVM_CAP_MAX_VCPUS",
	CapOneReg:        "KVM_CAP_ONE_REG",
	CapReadonlyMem:   "KVM_CAP_READONLY_MEM",
	CapDeviceCtrl:    "KVM_CAP_DEVICE_CTRL",
	CapArmEL132Bit:   "KVM_CAP_ARM_EL1_32BIT",
	CapArmPSCI02:     "KVM_CAP_ARM_PSCI_0_2",
	CapImmediateExit: "KVM_CAP_IMMEDIATE_EXIT",
	CapArmVMIPASize:  "KVM_CAP_ARM_VM_IPA_SIZE",
	CapArmPMUv3:      "KVM_CAP_ARM_PMU_V3",
	CapArmSVE:        "KVM_CAP_ARM_SVE",
	CapBinaryStatsFD: "KVM_CAP_BINARY_STATS_FD",
	CapArmPtrAuthAdr: "KVM_CAP_ARM_PTRAUTH_ADDRESS",
	CapArmPtrAuthGen: "KVM_CAP_ARM_PTRAUTH_GENERIC",
	CapArmMTE:        "KVM_CAP_ARM_MTE",
	CapMSIDevID:      "KVM_CAP_MSI_DEVID",
}

func (c Capability) String() string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return "KVM_CAP_" + strconv.FormatUint(uint64(c), 10)
}

// ioctl issues an ioctl whose argument is an integer or a pointer (passed as
// uintptr by the caller, which keeps the pointee alive). EINTR is returned to
// the caller: only KVM_RUN may see it, and the run loop handles it.
func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}
