package vmm

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
	exitMMIO          = 6
	exitShutdown      = 8
	exitFailEntry     = 9
	exitIntr          = 10
	exitInternalError = 17
	exitSystemEvent   = 24
)

// System event types (KVM_SYSTEM_EVENT_*).
const (
	systemEventShutdown = 1
	systemEventReset    = 2
	systemEventCrash    = 3
)

func (v *Vcpu) exitReason() uint32 {
	return binary.LittleEndian.Uint32(v.run[runExitReason:])
}

func (v *Vcpu) setImmediateExit(on bool) {
	var b byte
	if on {
		b = 1
	}
	v.run[runImmediateExit] = b
}

// mmioExit returns the address, the data buffer (len bytes of the shared
// page, read or filled in place) and the direction of an MMIO exit.
func (v *Vcpu) mmioExit() (addr uint64, data []byte, isWrite bool) {
	addr = binary.LittleEndian.Uint64(v.run[runMMIOPhysAddr:])
	n := binary.LittleEndian.Uint32(v.run[runMMIOLen:])
	if n > 8 {
		n = 8
	}
	data = v.run[runMMIOData : runMMIOData+int(n)]
	isWrite = v.run[runMMIOIsWrite] != 0
	return
}

func (v *Vcpu) systemEventType() uint32 {
	return binary.LittleEndian.Uint32(v.run[runSystemEventType:])
}

func (v *Vcpu) rawUnion() uint64 {
	return binary.LittleEndian.Uint64(v.run[runUnion:])
}
