package kvm

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnsupported says the host's KVM lacks a fast path; callers fall back
// to the slow one.
var ErrUnsupported = errors.New("not supported by this host's KVM")

type irqfdArgs struct {
	fd         uint32
	gsi        uint32
	flags      uint32
	resamplefd uint32
	pad        [16]byte
}

// IRQFD makes writes to eventfd efd inject interrupt gsi (on ARM, the SPI
// number). It gives edge semantics: each write is one interrupt.
func (vm *VM) IRQFD(gsi uint32, efd int) error {
	if vm.CheckExtension(CapIRQFD) <= 0 {
		return ErrUnsupported
	}
	return vm.irqfd(gsi, efd, 0)
}

// irqfdFlagDeassign is KVM_IRQFD_FLAG_DEASSIGN.
const irqfdFlagDeassign = 1 << 0

// DeassignIRQFD undoes IRQFD: writes to efd inject nothing from then on,
// and efd may be given to IRQFD again.
func (vm *VM) DeassignIRQFD(gsi uint32, efd int) error {
	return vm.irqfd(gsi, efd, irqfdFlagDeassign)
}

func (vm *VM) irqfd(gsi uint32, efd int, flags uint32) error {
	a := irqfdArgs{fd: uint32(efd), gsi: gsi, flags: flags}
	_, err := ioctl(vm.fd, kvmIRQFD, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	if err != nil {
		what := "KVM_IRQFD"
		if flags&irqfdFlagDeassign != 0 {
			what += " (deassign)"
		}
		return fmt.Errorf("%s gsi %d: %w", what, gsi, err)
	}
	return nil
}

type ioeventfdArgs struct {
	datamatch uint64
	addr      uint64
	len       uint32
	fd        int32
	flags     uint32
	pad       [36]byte
}

const (
	ioeventfdFlagDatamatch = 1 << 0
	ioeventfdFlagDeassign  = 1 << 2
)

// IOEventFD makes a guest write of value (length bytes: 1, 2, 4 or 8) to
// gpa signal eventfd efd instead of exiting to gokvm.
func (vm *VM) IOEventFD(gpa uint64, length uint32, value uint64, efd int) error {
	if vm.CheckExtension(CapIOEventFD) <= 0 {
		return ErrUnsupported
	}
	return vm.ioeventfd(gpa, length, value, efd, 0)
}

// DeassignIOEventFD undoes IOEventFD with the same arguments: the write
// exits to gokvm again. A device whose registers move (a PCI BAR the
// guest reprograms) takes its notifications off the old address this way.
func (vm *VM) DeassignIOEventFD(gpa uint64, length uint32, value uint64, efd int) error {
	return vm.ioeventfd(gpa, length, value, efd, ioeventfdFlagDeassign)
}

func (vm *VM) ioeventfd(gpa uint64, length uint32, value uint64, efd int, flags uint32) error {
	a := ioeventfdArgs{datamatch: value, addr: gpa, len: length, fd: int32(efd), flags: ioeventfdFlagDatamatch | flags}
	_, err := ioctl(vm.fd, kvmIOEventFD, uintptr(unsafe.Pointer(&a)))
	runtime.KeepAlive(&a)
	if err != nil {
		what := "KVM_IOEVENTFD"
		if flags&ioeventfdFlagDeassign != 0 {
			what += " (deassign)"
		}
		return fmt.Errorf("%s at %#x: %w", what, gpa, err)
	}
	return nil
}

// EventFD is a non-blocking eventfd read through Go's poller, so a goroutine
// waiting on it holds no thread.
type EventFD struct {
	f  *os.File
	fd int // kept apart: os.File.Fd would switch the file to blocking mode
}

// NewEventFD makes an eventfd.
func NewEventFD() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &EventFD{f: os.NewFile(uintptr(fd), "eventfd"), fd: fd}, nil
}

// FD is the descriptor, for KVM.
func (e *EventFD) FD() int { return e.fd }

// EventFD is the descriptor, for a host kernel driver that waits on it
// (vmm.EventFDNotification).
func (e *EventFD) EventFD() int { return e.fd }

// Signal adds one to the counter.
func (e *EventFD) Signal() error {
	var b [8]byte
	b[0] = 1
	_, err := e.f.Write(b[:])
	return err
}

// Wait blocks until the counter is non-zero and clears it. It fails once
// the EventFD is closed.
func (e *EventFD) Wait() error {
	var b [8]byte
	_, err := e.f.Read(b[:])
	return err
}

// Close releases the eventfd, waking a Wait.
func (e *EventFD) Close() error { return e.f.Close() }
