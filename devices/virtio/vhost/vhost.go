// Package vhost hands virtio queues to the host kernel's vhost drivers
// (/dev/vhost-net, /dev/vhost-vsock), which then move the data between
// guest RAM and a tap or the host's vsock sockets without a round trip
// through gokvm. Every vhost ioctl and its unsafe are here. Dev is the
// open device; Rings sets a virtio device's queues up on it when the
// driver is ready, forwards the kernel's used-buffer signals to the
// transport's interrupt, stops or detaches the data path on reset and
// pause, and says where the kernel is in the rings for a saved machine
// (RingStates), whose restored kernel starts there. FakeKernel stands for
// the kernel in tests.
package vhost

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/vmm"
	"github.com/gokvm/gokvm/vmm/memory"
)

// Feature bits of vhost itself (linux/vhost_types.h).
const (
	FeatureLogAll              = 26 // VHOST_F_LOG_ALL
	FeatureNetVirtioHdr        = 27 // VHOST_NET_F_VIRTIO_NET_HDR
	vhostPageSize       uint64 = 0x1000
)

// Dev is an open vhost device. Its methods are not safe for concurrent
// use; Rings serialises them. The zero Dev is a closed one, whose every
// request fails.
type Dev struct {
	path string
	fd   int
	open bool
	// sys, when set, takes the device's requests instead of the kernel
	// (a FakeKernel's).
	sys func(req uintptr, arg unsafe.Pointer) error
}

// Open opens a vhost device (NetDevice, VsockDevice) and makes gokvm its
// owner (VHOST_SET_OWNER: the kernel worker then reads guest RAM through
// this process's mappings). module names the kernel module that provides
// it, for the error. A device that does not exist or may not be opened is
// a vmm.ConfigError naming it.
func Open(path, module string) (*Dev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, module, err)
	}
	d := &Dev{path: path, fd: fd, open: true}
	if err := ioctlInt(fd, reqSetOwner, 0); err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: VHOST_SET_OWNER: %w", path, err)
	}
	return d, nil
}

// openError says what the user can do about a vhost device that does not
// open.
func openError(path, module string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return vmm.ConfigCause(err, "%s: %v (is the %s module loaded? modprobe %s)", path, err, module, module)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return vmm.ConfigCause(err, "%s: no permission to open it (%v)", path, err)
	}
	return fmt.Errorf("opening %s: %w", path, err)
}

// Path is the device's file name.
func (d *Dev) Path() string { return d.path }

// fdOrErr is the descriptor, or an error once the device is closed.
func (d *Dev) fdOrErr() (int, error) {
	if !d.open {
		return -1, fmt.Errorf("vhost device %s: closed", d.path)
	}
	return d.fd, nil
}

func (d *Dev) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s: %w", d.path, what, err)
}

// Features is what the kernel driver supports (VHOST_GET_FEATURES).
func (d *Dev) Features() (uint64, error) {
	fd, err := d.fdOrErr()
	if err != nil {
		return 0, err
	}
	var f uint64
	return f, d.wrap("VHOST_GET_FEATURES", ioctlPtr(d, fd, reqGetFeatures, &f))
}

// SetFeatures tells the kernel driver what was negotiated, of what it
// supports.
func (d *Dev) SetFeatures(f uint64) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	return d.wrap(fmt.Sprintf("VHOST_SET_FEATURES %#x", f), ioctlPtr(d, fd, reqSetFeatures, &f))
}

// SetMemTable describes guest RAM to the kernel: one region, guest
// physical to gokvm's host addresses.
func (d *Dev) SetMemTable(mem *memory.GuestMemory) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	t, err := memTableFor(mem)
	if err != nil {
		return d.wrap("VHOST_SET_MEM_TABLE", err)
	}
	return d.wrap("VHOST_SET_MEM_TABLE", ioctlPtr(d, fd, reqSetMemTable, &t))
}

// memTableFor is guest RAM as one vhost memory region; vhost wants it in
// whole pages.
func memTableFor(mem *memory.GuestMemory) (memTable, error) {
	host, err := mem.HostRange(mem.Base(), mem.Size())
	if err != nil {
		return memTable{}, err
	}
	if mem.Base()%vhostPageSize != 0 || mem.Size()%vhostPageSize != 0 || uint64(host)%vhostPageSize != 0 {
		return memTable{}, fmt.Errorf("guest RAM [%#x, +%#x) at host %#x is not in whole pages", mem.Base(), mem.Size(), host)
	}
	return memTable{NRegions: 1, Regions: [1]memoryRegion{{
		GuestPhysAddr: mem.Base(), MemorySize: mem.Size(), UserspaceAddr: uint64(host),
	}}}, nil
}

func (d *Dev) vringState(req uintptr, name string, index, num uint32) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	s := vringState{Index: index, Num: num}
	return d.wrap(fmt.Sprintf("%s vring %d (%d)", name, index, num), ioctlPtr(d, fd, req, &s))
}

func (d *Dev) vringFile(req uintptr, name string, index uint32, efd int) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	f := vringFile{Index: index, FD: int32(efd)}
	return d.wrap(fmt.Sprintf("%s vring %d (fd %d)", name, index, efd), ioctlPtr(d, fd, req, &f))
}

// SetVringNum sets a ring's size.
func (d *Dev) SetVringNum(index uint32, size uint16) error {
	return d.vringState(reqSetVringNum, "VHOST_SET_VRING_NUM", index, uint32(size))
}

// SetVringBase sets the index of the next available entry the kernel
// takes.
func (d *Dev) SetVringBase(index uint32, base uint16) error {
	return d.vringState(reqSetVringBase, "VHOST_SET_VRING_BASE", index, uint32(base))
}

// GetVringBase asks where the kernel got to in a ring.
func (d *Dev) GetVringBase(index uint32) (uint16, error) {
	fd, err := d.fdOrErr()
	if err != nil {
		return 0, err
	}
	s := vringState{Index: index}
	err = ioctlPtr(d, fd, reqGetVringBase, &s)
	return uint16(s.Num), d.wrap(fmt.Sprintf("VHOST_GET_VRING_BASE vring %d", index), err)
}

// setVringAddr gives a ring's host addresses (translated by RingAddrs).
func (d *Dev) setVringAddr(a vringAddr) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	return d.wrap(fmt.Sprintf("VHOST_SET_VRING_ADDR vring %d", a.Index), ioctlPtr(d, fd, reqSetVringAddr, &a))
}

// SetVringKick names the eventfd the driver's notifications signal.
func (d *Dev) SetVringKick(index uint32, efd int) error {
	return d.vringFile(reqSetVringKick, "VHOST_SET_VRING_KICK", index, efd)
}

// SetVringCall names the eventfd the kernel signals for used buffers.
func (d *Dev) SetVringCall(index uint32, efd int) error {
	return d.vringFile(reqSetVringCall, "VHOST_SET_VRING_CALL", index, efd)
}

// NetSetBackend attaches a tap to a vhost-net ring; -1 detaches it, after
// which the kernel no longer touches that ring.
func (d *Dev) NetSetBackend(index uint32, tapfd int) error {
	return d.vringFile(reqNetSetBackend, "VHOST_NET_SET_BACKEND", index, tapfd)
}

// VsockSetGuestCID gives the guest its vsock address.
func (d *Dev) VsockSetGuestCID(cid uint64) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	return d.wrap(fmt.Sprintf("VHOST_VSOCK_SET_GUEST_CID %d", cid), ioctlPtr(d, fd, reqVsockSetCID, &cid))
}

// VsockSetRunning starts or stops vhost-vsock's rings; stopped, the
// kernel no longer touches them.
func (d *Dev) VsockSetRunning(on bool) error {
	fd, err := d.fdOrErr()
	if err != nil {
		return err
	}
	v := int32(0)
	if on {
		v = 1
	}
	return d.wrap(fmt.Sprintf("VHOST_VSOCK_SET_RUNNING %d", v), ioctlPtr(d, fd, reqVsockSetRunning, &v))
}

// Close releases the device: the kernel stops and forgets its rings.
// Calls after the first do nothing.
func (d *Dev) Close() error {
	if !d.open {
		return nil
	}
	var err error
	if d.sys == nil {
		err = unix.Close(d.fd)
	}
	d.fd, d.open = -1, false
	return d.wrap("close", err)
}
