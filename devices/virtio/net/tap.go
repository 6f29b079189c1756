package net

import (
	"errors"
	"fmt"
	"io"
	stdnet "net"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/vmm"
)

// TapDevice is where tap devices come from.
const TapDevice = "/dev/net/tun"

var _ io.Closer = (*Tap)(nil)

// Tap is an open tap interface with virtio-net headers.
type Tap struct {
	Name    string
	f       *os.File
	fd      int
	created bool // gokvm created the interface; it goes when closed
}

// ValidTapName checks an interface name as the kernel would; a bad one is
// a vmm.ConfigError.
func ValidTapName(name string) error {
	switch {
	case name == "":
		return vmm.Configf("empty tap name")
	case len(name) >= unix.IFNAMSIZ:
		return vmm.Configf("tap name %q is %d bytes; interface names have at most %d", name, len(name), unix.IFNAMSIZ-1)
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n%"):
		return vmm.Configf("%q is not a valid interface name", name)
	}
	return nil
}

// OpenTap attaches to the tap interface name, creating it (and bringing it
// up) when it does not exist. What the user can fix (a bad name, an
// interface that is not a tap, no permission) is a vmm.ConfigError.
func OpenTap(name string) (*Tap, error) {
	if err := ValidTapName(name); err != nil {
		return nil, err
	}
	_, lookupErr := stdnet.InterfaceByName(name)
	existed := lookupErr == nil
	fd, err := unix.Open(TapDevice, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openTapError(name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, vmm.Configf("tap %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, attachTapError(name, existed, err)
	}
	hdr := int32(vnetHdrSize)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdr))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: TUNSETVNETHDRSZ: %w", name, e)
	}
	t := &Tap{Name: name, f: os.NewFile(uintptr(fd), "tap:"+name), fd: fd, created: !existed}
	if !existed {
		if err := SetLinkUp(name); err != nil {
			t.Close()
			return nil, fmt.Errorf("tap %s: bringing the new interface up: %w", name, err)
		}
	}
	return t, nil
}

// openTapError is OpenTap's error when TapDevice does not open.
func openTapError(name string, err error) error {
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return configError(err, "tap %s: no permission to open %s (needs CAP_NET_ADMIN, or a tap owned by this user)", name, TapDevice)
	}
	return fmt.Errorf("tap %s: opening %s: %w", name, TapDevice, err)
}

// attachTapError is OpenTap's error when TUNSETIFF fails on the interface.
func attachTapError(name string, existed bool, err error) error {
	if existed && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBUSY)) {
		return vmm.Configf("%s exists and is not a tap gokvm can attach to (TUNSETIFF: %w)", name, err)
	}
	if errors.Is(err, unix.EPERM) {
		return configError(err, "tap %s: no permission (TUNSETIFF needs CAP_NET_ADMIN)", name)
	}
	return fmt.Errorf("tap %s: TUNSETIFF: %w", name, err)
}

// SetLinkUp sets IFF_UP on an interface.
func SetLinkUp(name string) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

// SetOffload tells the tap which offloads the guest takes, so it hands
// over large (GSO) and checksum-pending frames only when the guest can.
func (t *Tap) SetOffload(flags uint) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(t.fd), unix.TUNSETOFFLOAD, uintptr(flags)); e != 0 {
		return fmt.Errorf("tap %s: TUNSETOFFLOAD %#x: %w", t.Name, flags, e)
	}
	return nil
}

// Created reports whether gokvm created the interface.
func (t *Tap) Created() bool { return t.created }

// File is the tap, non-blocking and registered with Go's poller.
func (t *Tap) File() *os.File { return t.f }

// Close releases the tap; an interface gokvm created disappears with it.
// Calls after the first do nothing.
func (t *Tap) Close() error {
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}
