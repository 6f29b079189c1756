// Package netcfg configures IPv4 interfaces with plain ioctls, for the test
// inits of the emulated host and the guest, which have no ip command.
package netcfg

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unsafe"

	vnet "github.com/gokvm/gokvm/devices/virtio/net"
	"golang.org/x/sys/unix"
)

// Up gives name the address cidr (e.g. 169.254.1.1/24) and sets it up.
func Up(name, cidr string) error {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return err
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	// struct ifreq with a sockaddr_in: written by hand, as x/sys's Ifreq
	// has no setter for an address.
	set := func(req uint, addr net.IP) error {
		var sa unix.RawSockaddrInet4
		sa.Family = unix.AF_INET
		copy(sa.Addr[:], addr.To4())
		raw := (*[unix.SizeofSockaddrInet4]byte)(unsafe.Pointer(&sa))
		b := make([]byte, unix.IFNAMSIZ+unix.SizeofSockaddrInet4+8)
		copy(b, name)
		copy(b[unix.IFNAMSIZ:], raw[:])
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(s), uintptr(req), uintptr(unsafe.Pointer(&b[0])))
		if e != 0 {
			return e
		}
		return nil
	}
	if err := set(unix.SIOCSIFADDR, ip); err != nil {
		return fmt.Errorf("SIOCSIFADDR %s: %v", name, err)
	}
	if err := set(unix.SIOCSIFNETMASK, net.IP(ipnet.Mask)); err != nil {
		return fmt.Errorf("SIOCSIFNETMASK %s: %v", name, err)
	}
	return vnet.SetLinkUp(name)
}

// WaitInterface waits for an interface to exist.
func WaitInterface(name string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := net.InterfaceByName(name); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s did not appear", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitCarrier waits until the interface reports its link up.
func WaitCarrier(name string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/sys/class/net/" + name + "/carrier")
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s has no carrier", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MakeTap creates a persistent tap interface (it outlives this process).
func MakeTap(name string) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("TUNSETIFF: %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETPERSIST, 1); e != 0 {
		return fmt.Errorf("TUNSETPERSIST: %v", e)
	}
	return nil
}
