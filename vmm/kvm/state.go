package kvm

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The calls a machine's saved state is read and written with: the list of
// a vcpu's registers, registers of any size, the vcpu's power state and
// pending events, and an in-kernel device's attributes.

// regSizeShift and regSizeMask are where a register id says its size:
// 1 << n bytes (KVM_REG_SIZE_SHIFT, KVM_REG_SIZE_MASK).
const (
	regSizeShift = 52
	regSizeMask  = 0xf << regSizeShift
)

// RegSize is the size in bytes of the register id names.
func RegSize(id uint64) int { return 1 << ((id & regSizeMask) >> regSizeShift) }

// maxRegSize is the largest register KVM has (an SVE Z register at 2048
// bits is 256 bytes).
const maxRegSize = 256

// RegList is KVM_GET_REG_LIST: the id of every register the vcpu has
// (which depends on its features: SVE, PMU, pointer authentication).
func (v *Vcpu) RegList() ([]uint64, error) {
	// The first call says how many; the second fills them in.
	var hdr [1]uint64
	_, err := ioctl(v.fd, kvmGetRegList, uintptr(unsafe.Pointer(&hdr[0])))
	runtime.KeepAlive(&hdr)
	n := hdr[0]
	if err == nil || n == 0 || n > 1<<16 {
		return nil, fmt.Errorf("KVM_GET_REG_LIST on vcpu %d: %d registers (%v)", v.ID, n, err)
	}
	buf := make([]uint64, 1+n)
	buf[0] = n
	if _, err := ioctl(v.fd, kvmGetRegList, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
		return nil, fmt.Errorf("KVM_GET_REG_LIST on vcpu %d: %w", v.ID, err)
	}
	runtime.KeepAlive(buf)
	return buf[1 : 1+buf[0]], nil
}

// GetReg reads a register of any size into a new slice of its size.
func (v *Vcpu) GetReg(id uint64) ([]byte, error) {
	n := RegSize(id)
	if n > maxRegSize {
		return nil, fmt.Errorf("register %#x: %d bytes", id, n)
	}
	val := make([]byte, n)
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val[0])))}
	_, err := ioctl(v.fd, kvmGetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	runtime.KeepAlive(val)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return val, nil
}

// SetReg writes a register of any size; val must be its size.
func (v *Vcpu) SetReg(id uint64, val []byte) error {
	if len(val) != RegSize(id) {
		return fmt.Errorf("register %#x takes %d bytes, not %d", id, RegSize(id), len(val))
	}
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val[0])))}
	_, err := ioctl(v.fd, kvmSetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	runtime.KeepAlive(val)
	if err != nil {
		return fmt.Errorf("KVM_SET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return nil
}

// GetMPState and SetMPState read and write KVM_*_MP_STATE's value
// (KVM_MP_STATE_RUNNABLE 0, STOPPED 5, SUSPENDED 10 on ARM).
func (v *Vcpu) GetMPState() (uint32, error) {
	var st uint32
	_, err := ioctl(v.fd, kvmGetMPState, uintptr(unsafe.Pointer(&st)))
	runtime.KeepAlive(&st)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_MP_STATE on vcpu %d: %w", v.ID, err)
	}
	return st, nil
}

func (v *Vcpu) SetMPState(st uint32) error {
	_, err := ioctl(v.fd, kvmSetMPState, uintptr(unsafe.Pointer(&st)))
	runtime.KeepAlive(&st)
	if err != nil {
		return fmt.Errorf("KVM_SET_MP_STATE %d on vcpu %d: %w", st, v.ID, err)
	}
	return nil
}

// VcpuEvents is ARM's struct kvm_vcpu_events, as bytes: an SError or
// external abort pending for the guest.
type VcpuEvents [64]byte

// GetVcpuEvents and SetVcpuEvents read and write KVM_*_VCPU_EVENTS.
func (v *Vcpu) GetVcpuEvents() (VcpuEvents, error) {
	var ev VcpuEvents
	_, err := ioctl(v.fd, kvmGetVcpuEvents, uintptr(unsafe.Pointer(&ev)))
	runtime.KeepAlive(&ev)
	if err != nil {
		return ev, fmt.Errorf("KVM_GET_VCPU_EVENTS on vcpu %d: %w", v.ID, err)
	}
	return ev, nil
}

func (v *Vcpu) SetVcpuEvents(ev VcpuEvents) error {
	_, err := ioctl(v.fd, kvmSetVcpuEvents, uintptr(unsafe.Pointer(&ev)))
	runtime.KeepAlive(&ev)
	if err != nil {
		return fmt.Errorf("KVM_SET_VCPU_EVENTS on vcpu %d: %w", v.ID, err)
	}
	return nil
}

// GetAttrU32 and GetAttrU64 read an in-kernel device's attribute (a VGIC
// register); SetAttrU32 and SetAttrU64 are in vm.go.
func (d *Device) GetAttrU32(group uint32, attr uint64) (uint32, error) {
	var v uint32
	err := d.getAttr(group, attr, unsafe.Pointer(&v))
	return v, err
}

func (d *Device) GetAttrU64(group uint32, attr uint64) (uint64, error) {
	var v uint64
	err := d.getAttr(group, attr, unsafe.Pointer(&v))
	return v, err
}

func (d *Device) getAttr(group uint32, attr uint64, val unsafe.Pointer) error {
	a := deviceAttr{group: group, attr: attr, addr: uint64(uintptr(val))}
	_, err := ioctl(d.fd, kvmGetDeviceAttr, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	runtime.KeepAlive(val)
	return err
}

// HasAttr reports whether the device has an attribute.
func (d *Device) HasAttr(group uint32, attr uint64) bool {
	a := deviceAttr{group: group, attr: attr}
	_, err := ioctl(d.fd, kvmHasDeviceAttr, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	return err == nil
}

// CompletePending finishes an exit KVM has not completed yet (an MMIO
// load's value goes into its register and the PC past the instruction on
// the next KVM_RUN), without entering the guest: a KVM_RUN with
// immediate_exit set, as api.rst asks before a vcpu's state is saved.
// Without it a restored vcpu would run the instruction of its last MMIO
// exit again.
func (v *Vcpu) CompletePending() error {
	was := v.run[runImmediateExit]
	v.run[runImmediateExit] = 1
	defer func() { v.run[runImmediateExit] = was }()
	if err := v.Run(); err != nil && err != unix.EINTR {
		return fmt.Errorf("completing vcpu %d's last exit: %w", v.ID, err)
	}
	return nil
}
