package kvm

import (
	"encoding/binary"
)

// Offsets into struct kvm_run (linux/kvm.h); identical on arm64 and arm.
const (
	runImmediateExit = 1
	runExitReason    = 8
	runUnion         = 32 // the exit-specific union

	// mmio
	runMMIOPhysAddr = runUnion
	runMMIOData     = runUnion + 8
	runMMIOLen      = runUnion + 16
	runMMIOIsWrite  = runUnion + 20

	// system_event
	runSystemEventType = runUnion
)

// KVM exit reasons (KVM_EXIT_*).
const (
	ExitMMIO          = 6
	ExitFailEntry     = 9
	ExitIntr          = 10
	ExitInternalError = 17
	ExitSystemEvent   = 24
)

// System event types (KVM_SYSTEM_EVENT_*).
const (
	SystemEventShutdown = 1
	SystemEventReset    = 2
	SystemEventCrash    = 3
)

// ExitReason is why the last KVM_RUN returned.
func (v *Vcpu) ExitReason() uint32 {
	return binary.LittleEndian.Uint32(v.run[runExitReason:])
}

// SetImmediateExit makes KVM_RUN return at once (with EINTR) while on, so
// a vcpu about to enter the guest does not.
func (v *Vcpu) SetImmediateExit(on bool) {
	var b byte
	if on {
		b = 1
	}
	v.run[runImmediateExit] = b
}

// MMIOExit returns the address, the data buffer (len bytes of the shared
// page, read or filled in place) and the direction of an MMIO exit.
func (v *Vcpu) MMIOExit() (addr uint64, data []byte, isWrite bool) {
	addr = binary.LittleEndian.Uint64(v.run[runMMIOPhysAddr:])
	n := binary.LittleEndian.Uint32(v.run[runMMIOLen:])
	if n > 8 {
		n = 8
	}
	data = v.run[runMMIOData : runMMIOData+int(n)]
	isWrite = v.run[runMMIOIsWrite] != 0
	return
}

// SystemEventType is the type of a KVM_EXIT_SYSTEM_EVENT.
func (v *Vcpu) SystemEventType() uint32 {
	return binary.LittleEndian.Uint32(v.run[runSystemEventType:])
}

// RawUnion is the first word of the exit's union, for reporting exits
// gokvm does not handle.
func (v *Vcpu) RawUnion() uint64 {
	return binary.LittleEndian.Uint64(v.run[runUnion:])
}
