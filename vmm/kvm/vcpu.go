package kvm

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Vcpu is a KVM vcpu handle with its shared kvm_run page.
type Vcpu struct {
	ID  int
	vm  *VM
	fd  int
	run []byte // the mmap'ed struct kvm_run
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

// Run enters the guest with KVM_RUN until the next exit. EINTR and EAGAIN
// come back as they are: the caller retries.
func (v *Vcpu) Run() error {
	_, err := ioctl(v.fd, kvmRun, 0)
	return err
}

// RunKeepingP is Run for a thread that owns a P of the Go scheduler for
// as long as its vcpu runs: KVM_RUN is issued without telling the
// scheduler that the thread is in a system call, so the thread keeps its
// P while the guest runs and needs no P back when it returns with an
// exit to serve. As a plain system call, a vcpu thread lost its P to
// sysmon while the guest ran, and found none free at each MMIO exit: the
// vcpu, the device goroutines and the runtime's idle threads then woke
// each other several times per guest request (issue #22).
//
// The caller must have raised GOMAXPROCS by one for each such thread, or
// the rest of the program runs short of Ps. The runtime still preempts
// the goroutine, for a garbage collection or after 10 ms, with a signal
// (SIGURG): the signal ends KVM_RUN with EINTR, whether the guest runs
// or waits in WFI, and the goroutine yields at its next function call.
func (v *Vcpu) RunKeepingP() error {
	_, _, errno := unix.RawSyscall(unix.SYS_IOCTL, uintptr(v.fd), kvmRun, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// mpStateNames are the KVM_MP_STATE_* values an ARM vcpu can be in.
var mpStateNames = map[uint32]string{0: "runnable", 5: "stopped", 10: "suspended"}

// MPState reads the vcpu's KVM_GET_MP_STATE: "stopped" for a secondary
// vcpu PSCI has not started (or has stopped), "runnable" otherwise.
func (v *Vcpu) MPState() (string, error) {
	var st uint32
	_, err := ioctl(v.fd, kvmGetMPState, uintptr(unsafe.Pointer(&st)))
	runtime.KeepAlive(&st)
	if err != nil {
		return "", fmt.Errorf("KVM_GET_MP_STATE on vcpu %d: %w", v.ID, err)
	}
	if name, ok := mpStateNames[st]; ok {
		return name, nil
	}
	return fmt.Sprintf("mp_state %d", st), nil
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
