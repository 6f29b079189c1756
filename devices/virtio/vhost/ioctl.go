package vhost

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vhost ioctl request numbers (linux/vhost.h, checked against the arm64
// uapi headers by ioctl_test.go). The argument structs have the same size
// on every architecture gokvm runs on, so the numbers do too.
const (
	reqGetFeatures     = 0x8008af00 // _IOR(VHOST_VIRTIO, 0x00, __u64)
	reqSetFeatures     = 0x4008af00 // _IOW(VHOST_VIRTIO, 0x00, __u64)
	reqSetOwner        = 0x0000af01 // _IO(VHOST_VIRTIO, 0x01)
	reqSetMemTable     = 0x4008af03 // _IOW(VHOST_VIRTIO, 0x03, struct vhost_memory)
	reqSetVringNum     = 0x4008af10 // _IOW(VHOST_VIRTIO, 0x10, struct vhost_vring_state)
	reqSetVringAddr    = 0x4028af11 // _IOW(VHOST_VIRTIO, 0x11, struct vhost_vring_addr)
	reqSetVringBase    = 0x4008af12 // _IOW(VHOST_VIRTIO, 0x12, struct vhost_vring_state)
	reqGetVringBase    = 0xc008af12 // _IOWR(VHOST_VIRTIO, 0x12, struct vhost_vring_state)
	reqSetVringKick    = 0x4008af20 // _IOW(VHOST_VIRTIO, 0x20, struct vhost_vring_file)
	reqSetVringCall    = 0x4008af21 // _IOW(VHOST_VIRTIO, 0x21, struct vhost_vring_file)
	reqNetSetBackend   = 0x4008af30 // _IOW(VHOST_VIRTIO, 0x30, struct vhost_vring_file)
	reqVsockSetCID     = 0x4008af60 // _IOW(VHOST_VIRTIO, 0x60, __u64)
	reqVsockSetRunning = 0x4004af61 // _IOW(VHOST_VIRTIO, 0x61, int)
)

// Argument structs (linux/vhost_types.h).
type vringState struct {
	Index uint32
	Num   uint32
}

type vringFile struct {
	Index uint32
	FD    int32 // -1 unbinds
}

// vringAddr is struct vhost_vring_addr: the host (user) addresses of one
// ring's parts.
type vringAddr struct {
	Index uint32
	Flags uint32
	Desc  uint64
	Used  uint64
	Avail uint64
	Log   uint64
}

type memoryRegion struct {
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
	FlagsPadding  uint64
}

// memTable is struct vhost_memory with its one region: guest RAM is one
// contiguous mapping.
type memTable struct {
	NRegions uint32
	Padding  uint32
	Regions  [1]memoryRegion
}

// ioctlPtr issues request req on d's descriptor fd with arg a pointer to
// *p; a fake device (Dev.sys) takes it instead of the kernel.
func ioctlPtr[T any](d *Dev, fd int, req uintptr, p *T) error {
	if d.sys != nil {
		return d.sys(req, unsafe.Pointer(p))
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(p)))
	runtime.KeepAlive(p)
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlInt issues request req on fd with the integer v as its argument.
func ioctlInt(fd int, req uintptr, v uintptr) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, v)
	if errno != 0 {
		return errno
	}
	return nil
}
