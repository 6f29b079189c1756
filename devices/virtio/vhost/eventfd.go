package vhost

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// eventFD is a non-blocking eventfd read through Go's poller, so a
// goroutine waiting on it holds no thread. The kernel signals one per ring
// for used buffers (VHOST_SET_VRING_CALL); where KVM has no ioeventfd,
// gokvm signals one for the driver's notifications (VHOST_SET_VRING_KICK).
type eventFD struct {
	f  *os.File
	fd int // kept apart: os.File.Fd would make the file blocking
}

func newEventFD() (*eventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &eventFD{f: os.NewFile(uintptr(fd), "vhost-eventfd"), fd: fd}, nil
}

// wait blocks until the counter is non-zero and clears it; it fails once
// the eventfd is closed.
func (e *eventFD) wait() error {
	var b [8]byte
	_, err := e.f.Read(b[:])
	return err
}

// signal adds one to the counter.
func (e *eventFD) signal() error {
	var b [8]byte
	b[0] = 1
	_, err := e.f.Write(b[:])
	return err
}

// drain clears the counter without waiting.
func (e *eventFD) drain() {
	var b [8]byte
	unix.Read(e.fd, b[:])
}

func (e *eventFD) close() error { return e.f.Close() }

// signalFD adds one to an eventfd gokvm does not own (a queue's
// ioeventfd), so that the kernel looks at the ring again.
func signalFD(fd int) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	_, err := unix.Write(fd, b[:])
	return err
}
