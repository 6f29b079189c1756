package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DefaultDevice is where the KVM system device lives.
const DefaultDevice = "/dev/kvm"

// ErrNoKVM is wrapped by every failure to open a usable KVM device.
var ErrNoKVM = errors.New("no usable KVM device")

// System is an open KVM system handle (/dev/kvm).
type System struct {
	fd   int
	path string
}

// OpenSystem opens the KVM device at path and checks that it really is one,
// speaking the stable API version 12.
func OpenSystem(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, fmt.Errorf("%w: %s does not exist (is the kvm module loaded, and does the CPU run Linux at EL2?): %w", ErrNoKVM, path, err)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("%w: no permission to open %s (add the user to the kvm group): %w", ErrNoKVM, path, err)
		}
		return nil, fmt.Errorf("%w: open %s: %w", ErrNoKVM, path, err)
	}
	s := &System{fd: fd, path: path}
	v, err := ioctl(fd, kvmGetAPIVersion, 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("%w: %s is not a KVM device (KVM_GET_API_VERSION: %w)", ErrNoKVM, path, err)
	}
	if v != kvmAPIVersionSupported {
		s.Close()
		return nil, fmt.Errorf("%w: %s speaks KVM API version %d, gokvm needs %d", ErrNoKVM, path, v, kvmAPIVersionSupported)
	}
	return s, nil
}

// APIVersion is the KVM API version the device speaks (12: OpenSystem
// refuses others).
func (s *System) APIVersion() int { return kvmAPIVersionSupported }

// Path is the device path the system was opened from.
func (s *System) Path() string { return s.path }

// Close releases the handle. VMs created from it stay valid.
func (s *System) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// CheckExtension returns KVM_CHECK_EXTENSION's answer for c (0 = absent).
func (s *System) CheckExtension(c Capability) int {
	r, err := ioctl(s.fd, kvmCheckExtension, uintptr(c))
	if err != nil {
		return 0
	}
	return int(r)
}

// Require fails with a MissingCapabilityError when c is absent.
func (s *System) Require(c Capability, purpose string) error {
	if s.CheckExtension(c) <= 0 {
		return &MissingCapabilityError{Cap: c, For: purpose}
	}
	return nil
}

// MaxVcpus is the largest vcpu count the host allows in one VM.
func (s *System) MaxVcpus() int {
	if n := s.CheckExtension(CapMaxVcpus); n > 0 {
		return n
	}
	if n := s.CheckExtension(CapNrVcpus); n > 0 {
		return n
	}
	// api.rst: without either capability, assume 4.
	return 4
}

func (s *System) vcpuMmapSize() (int, error) {
	r, err := ioctl(s.fd, kvmGetVcpuMmapSize, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	return int(r), nil
}
