package vmm

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Vcpu is a KVM vcpu handle with its shared kvm_run page.
type Vcpu struct {
	ID  int
	vm  *VM
	fd  int
	run []byte // the mmap'ed struct kvm_run

	tid atomic.Int32 // OS thread running KVM_RUN, 0 when none
	// dumpReq, when set, asks the vcpu's thread to send its description
	// (see DumpVcpus).
	dumpReq atomic.Pointer[chan string]
}

// CreateVcpu runs KVM_CREATE_VCPU and maps its kvm_run structure.
func (vm *VM) CreateVcpu(id int) (*Vcpu, error) {
	r, err := ioctl(vm.fd, kvmCreateVcpu, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU %d: %w", id, err)
	}
	fd := int(r)
	size, err := vm.sys.vcpuMmapSize()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	run, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mapping kvm_run of vcpu %d: %w", id, err)
	}
	return &Vcpu{ID: id, vm: vm, fd: fd, run: run}, nil
}

// Ioctl issues an architecture-specific vcpu ioctl with a pointer argument.
func (v *Vcpu) Ioctl(req uintptr, arg unsafe.Pointer) error {
	_, err := ioctl(v.fd, req, uintptr(arg))
	runtime.KeepAlive(arg)
	return err
}

// Ioctl issues an architecture-specific VM ioctl with a pointer argument.
func (vm *VM) Ioctl(req uintptr, arg unsafe.Pointer) error {
	_, err := ioctl(vm.fd, req, uintptr(arg))
	runtime.KeepAlive(arg)
	return err
}

type oneReg struct {
	id   uint64
	addr uint64
}

// SetOneReg writes a 64-bit (or narrower, per the id's size field) register.
func (v *Vcpu) SetOneReg(id uint64, val uint64) error {
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val)))}
	_, err := ioctl(v.fd, kvmSetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	runtime.KeepAlive(&val)
	if err != nil {
		return fmt.Errorf("KVM_SET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return nil
}

// GetOneReg reads a register of up to 64 bits.
func (v *Vcpu) GetOneReg(id uint64) (uint64, error) {
	var val uint64
	r := oneReg{id: id, addr: uint64(uintptr(unsafe.Pointer(&val)))}
	_, err := ioctl(v.fd, kvmGetOneReg, uintptr(unsafe.Pointer(&r)))
	runtime.KeepAlive(&r)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_ONE_REG %#x on vcpu %d: %w", id, v.ID, err)
	}
	return val, nil
}

// Close unmaps kvm_run and closes the vcpu.
func (v *Vcpu) Close() error {
	if v.run != nil {
		unix.Munmap(v.run)
		v.run = nil
	}
	if v.fd < 0 {
		return nil
	}
	err := unix.Close(v.fd)
	v.fd = -1
	return err
}
