package vmm

import (
	"context"
	"errors"
	"log"

	"github.com/gokvm/gokvm/vmm/memory"
)

// DeviceSpec describes a device for the machine to place, create and
// describe to the guest. The core knows no device: everything it needs
// comes from the spec.
type DeviceSpec struct {
	Name string
	// StateName names the device's section in a saved machine's state
	// file (device/NAME); Name when empty. A device whose Name tells
	// its backend, which a restore may change (a NIC's tap), gives one
	// that does not, so that the restored device finds its state.
	StateName string
	// Area and Size ask the board for a window.
	Area Area
	Size uint64
	// New creates the device once its window and interrupt are known.
	// The device may implement io.Closer (closed with the machine),
	// Starter and Pauser.
	New func(env DeviceEnv) (MMIODevice, error)
	// Describe writes the device's node into the guest's device tree.
	Describe DescribeFunc
	// Background puts the device's window behind the others: it gets
	// only the accesses no other device in it claims (a PCI host
	// bridge's configuration space, in which its functions have their
	// own windows).
	Background bool
}

// DeviceEnv is what a device is created with: capabilities, never the VM.
type DeviceEnv struct {
	Name      string
	Mem       *memory.GuestMemory
	Placement Placement
	Log       *log.Logger
	// SetLevel drives a level-triggered interrupt line.
	SetLevel func(high bool)
	// Pulse raises one edge-triggered interrupt: through an irqfd where
	// the host has them, so it costs no ioctl.
	Pulse func()
	// PulseFD makes each write to eventfd fd raise the device's
	// edge-triggered interrupt in the host kernel (a KVM irqfd on its
	// line), with no thread of gokvm's in between: a host kernel driver
	// (vhost) signals it for used buffers. release undoes it, before fd
	// is given again or closed. Nil where the host has no irqfds.
	// Interrupts raised this way are not in Stats.Interrupts.
	PulseFD func(fd int) (release func() error, err error)
	// WatchWrite asks the host to signal the returned Notification,
	// without an exit, when the guest writes the 32-bit value at offset
	// in the device's window. It fails with ErrUnsupported where the host
	// cannot; the write then arrives as an MMIO write.
	WatchWrite func(offset uint64, value uint32) (Notification, error)
	// MapReadOnly maps mem, the device's own backing of its whole window
	// (page-aligned, the window's size), into the guest read-only: the
	// guest's loads and instruction fetches in the window are served
	// from it without an exit, its stores still arrive as MMIO writes.
	// UnmapReadOnly gives the window back to MMIO. A device switches as
	// its mode changes (a CFI flash maps its array in read-array mode
	// only), under its own lock. Both fail where the host's KVM cannot
	// (no KVM_CAP_READONLY_MEM); every access then stays an MMIO exit.
	MapReadOnly   func(mem []byte) error
	UnmapReadOnly func() error
	// NewNotification makes a notification that no guest write
	// signals yet: a Window's WatchWrite registers it at an address,
	// and may register it elsewhere when the window moves, so that the
	// host kernel driver waiting on it (vhost) keeps the same one. It
	// is the device's to close. It fails with ErrUnsupported where the
	// host cannot signal one.
	NewNotification func() (EventFDNotification, error)
	// MapWindow puts dev at [base, base+size) while the guest runs (a
	// PCI function's BAR, where the guest placed it). The window must
	// lie in the placement's Dynamic range and overlap no other; an
	// error says why it does not (ErrWindowRefused). Close the Window
	// to take it off.
	MapWindow func(base, size uint64, dev MMIODevice) (Window, error)
	// NewMSI makes a message-signalled interrupt (a PCI function's
	// MSI-X vector), in New: the machine closes it. It fails with
	// ErrUnsupported on a machine without an MSI controller.
	NewMSI func() (MSI, error)
	// Fault reports that the device itself failed (a bug in gokvm, such as
	// a recovered panic), as opposed to a guest error: the guest runs on,
	// and Run reports ErrDeviceFault once it ends, so gokvm exits with a
	// failure status after flushing the disks.
	Fault func(err error)
}

// ErrDeviceFault is wrapped by Run's error when a device reported a fault.
var ErrDeviceFault = errors.New("a device failed")

// Notification is a guest write the host turned into an event.
type Notification interface {
	// Wait blocks until the guest wrote (or Signal was called) at least
	// once since the last Wait; it fails once the notification is
	// closed.
	Wait() error
	// Signal does what a guest write does: a device's transport passes
	// on a notification that arrived as an MMIO write after all, and
	// wakes the goroutine waiting so that it sees its device stop.
	Signal() error
	// Close stops the notification and wakes a Wait.
	Close() error
}

// EventFDNotification is a Notification backed by an eventfd whose
// descriptor a host kernel driver can wait on itself (vhost takes a
// queue's notifications this way, with no thread of gokvm's in between).
// The descriptor stays the Notification's: its user must not close it.
type EventFDNotification interface {
	Notification
	EventFD() int
}

// ErrWindowRefused is wrapped by MapWindow's error for a window outside
// the placement's Dynamic range or overlapping another: the guest put a
// BAR where nothing can be.
var ErrWindowRefused = errors.New("window refused")

// Window is a window a device mapped while the guest runs (MapWindow).
type Window interface {
	// WatchWrite makes the host signal n, without an exit, when the
	// guest writes value (length bytes) at offset in the window. It
	// fails with ErrUnsupported where the host cannot; the write then
	// arrives as an MMIO write. Closing the window unwatches it.
	WatchWrite(n EventFDNotification, offset uint64, length uint32, value uint64) error
	// Close takes the window off the bus, and its watches off the host.
	Close() error
}

// MSI is a message-signalled interrupt: the guest says which message it
// sends (Route), the device sends it (Signal).
type MSI interface {
	// Route sets the message, as the guest programmed it (a PCI
	// function's MSI-X table entry). A message that reaches no
	// interrupt controller (a hostile or unprogrammed one) makes Signal
	// send nothing; the error says why the route could not be made.
	Route(address uint64, data uint32) error
	// Signal sends the message once.
	Signal() error
}

// Starter is a device with work of its own once the guest runs (a console
// reading its input). Start is called when Run begins; ctx ends when Run
// returns.
type Starter interface {
	Start(ctx context.Context)
}

// Pauser is a device that can stop touching guest memory and raising
// interrupts while the machine is paused, and carry on where it was.
// Pause returns once the device is quiet.
type Pauser interface {
	Pause()
	Resume()
}
