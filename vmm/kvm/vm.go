package kvm

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine handle.
type VM struct {
	sys *System
	fd  int
	// creator is the thread that created the VM, which names its
	// debugfs directory (DebugfsName).
	creator int
}

// CreateVM runs KVM_CREATE_VM with the architecture's machine type.
func (s *System) CreateVM(machineType uintptr) (*VM, error) {
	// On one thread, so that the id read after is the creator's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		r, err := ioctl(s.fd, kvmCreateVM, machineType)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_CREATE_VM (type %#x): %w", machineType, err)
		}
		return &VM{sys: s, fd: int(r), creator: unix.Gettid()}, nil
	}
}

// System is the KVM handle the VM was created from.
func (vm *VM) System() *System { return vm.sys }

// Close releases the VM file descriptor.
func (vm *VM) Close() error {
	if vm.fd < 0 {
		return nil
	}
	err := unix.Close(vm.fd)
	vm.fd = -1
	return err
}

// CheckExtension asks the VM (not just the system) about a capability: on
// arm64 some answers depend on the VM, e.g. its IPA size.
func (vm *VM) CheckExtension(c Capability) int {
	r, err := ioctl(vm.fd, kvmCheckExtension, uintptr(c))
	if err != nil {
		return 0
	}
	return int(r)
}

type userMemoryRegion struct {
	slot          uint32
	flags         uint32
	guestPhysAddr uint64
	memorySize    uint64
	userspaceAddr uint64
}

// memReadonly is KVM_MEM_READONLY: the guest reads the slot, its stores
// exit as MMIO writes.
const memReadonly = 1 << 1

// MapMemory puts host memory into memory slot slot at guest-physical gpa.
// The memory must stay mapped as long as the VM.
func (vm *VM) MapMemory(slot uint32, gpa uint64, host []byte) error {
	return vm.setMemoryRegion(slot, 0, gpa, host)
}

// MapMemoryReadOnly puts host memory into slot at gpa read-only: the
// guest's loads and instruction fetches are served from it, its stores
// exit as MMIO writes (the host needs KVM_CAP_READONLY_MEM). The memory
// must stay mapped until the slot is unmapped or the VM closed.
func (vm *VM) MapMemoryReadOnly(slot uint32, gpa uint64, host []byte) error {
	return vm.setMemoryRegion(slot, memReadonly, gpa, host)
}

// UnmapMemory deletes slot: its guest-physical range exits as MMIO again.
func (vm *VM) UnmapMemory(slot uint32) error {
	r := userMemoryRegion{slot: slot} // size 0 deletes the slot
	_, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	if err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION (deleting slot %d): %w", slot, err)
	}
	return nil
}

func (vm *VM) setMemoryRegion(slot, flags uint32, gpa uint64, host []byte) error {
	if len(host) == 0 {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION (slot %d): no memory", slot)
	}
	r := userMemoryRegion{
		slot:          slot,
		flags:         flags,
		guestPhysAddr: gpa,
		memorySize:    uint64(len(host)),
		userspaceAddr: uint64(uintptr(unsafe.Pointer(&host[0]))),
	}
	_, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	if err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION (slot %d, %#x+%#x): %w", slot, gpa, len(host), err)
	}
	return nil
}

type irqLevel struct {
	irq   uint32
	level uint32
}

// SetIRQLine drives an interrupt line of the in-kernel irqchip. The encoding
// of irq is architecture specific (see the arch packages).
func (vm *VM) SetIRQLine(irq uint32, high bool) error {
	l := irqLevel{irq: irq}
	if high {
		l.level = 1
	}
	_, err := ioctl(vm.fd, kvmIRQLine, uintptr(unsafe.Pointer(&l)))
	runtime.KeepAlive(&l)
	if err != nil {
		return fmt.Errorf("KVM_IRQ_LINE %#x=%d: %w", irq, l.level, err)
	}
	return nil
}

// Device is a KVM device created with KVM_CREATE_DEVICE (e.g. a VGIC).
type Device struct {
	fd int
}

type createDevice struct {
	typ   uint32
	fd    uint32
	flags uint32
}

// CreateDevice creates an in-kernel device of KVM device type typ.
func (vm *VM) CreateDevice(typ uint32) (*Device, error) {
	cd := createDevice{typ: typ}
	_, err := ioctl(vm.fd, kvmCreateDevice, uintptr(unsafe.Pointer(&cd)))
	runtime.KeepAlive(&cd)
	if err != nil {
		return nil, err
	}
	return &Device{fd: int(cd.fd)}, nil
}

type deviceAttr struct {
	flags uint32
	group uint32
	attr  uint64
	addr  uint64
}

// setAttr runs KVM_SET_DEVICE_ATTR; val points at the attribute's value
// (nil for attributes that take none).
func (d *Device) setAttr(group uint32, attr uint64, val unsafe.Pointer) error {
	a := deviceAttr{group: group, attr: attr, addr: uint64(uintptr(val))}
	_, err := ioctl(d.fd, kvmSetDeviceAttr, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	runtime.KeepAlive(val)
	return err
}

// SetAttrU64 sets a device attribute that takes a 64-bit value (a VGIC
// region's address).
func (d *Device) SetAttrU64(group uint32, attr uint64, v uint64) error {
	return d.setAttr(group, attr, unsafe.Pointer(&v))
}

// SetAttrU32 sets a device attribute that takes a 32-bit value (the VGIC's
// interrupt count).
func (d *Device) SetAttrU32(group uint32, attr uint64, v uint32) error {
	return d.setAttr(group, attr, unsafe.Pointer(&v))
}

// SetAttrNone sets a device attribute that takes no value (a control such
// as the VGIC's init).
func (d *Device) SetAttrNone(group uint32, attr uint64) error {
	return d.setAttr(group, attr, nil)
}

// Close releases the device file descriptor; the device lives as long as
// the VM.
func (d *Device) Close() error {
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}
