// Package exitdev is the sandbox's status device: a small platform device
// through which the guest's init tells gokvm that it is ready for input,
// that the command started, and how it ended (a status and, for a failure,
// a message). It is a side channel that the command's output cannot fake:
// only a process that can map /dev/mem (the sandbox init, as root) reaches
// it. Its device-tree node is compatible with "gokvm,sandbox-exit".
//
// Registers (32-bit, little-endian, at offsets in the window):
//
//	0x000 MAGIC    read: 0x676b7378 ("gksx")
//	0x004 STATE    write: 1 = ready (gokvm may send input), 2 = the command started
//	0x008 STATUS   write: StatusValid | status (0-255): the final status
//	0x100 MESSAGE  write (any width): MessageSize bytes of text, NUL-terminated,
//	               read by gokvm when STATUS is written
package exitdev

import (
	"encoding/binary"
	"strings"
	"sync"

	"github.com/gokvm/gokvm/vmm"
)

// Compatible is the device-tree compatible string the guest looks for.
const Compatible = "gokvm,sandbox-exit"

// Register offsets and values.
const (
	RegMagic   = 0x000
	RegState   = 0x004
	RegStatus  = 0x008
	RegMessage = 0x100

	MessageSize = 0x100
	// Size is the window's size.
	Size = RegMessage + MessageSize

	Magic = 0x676b7378

	StateReady   = 1
	StateStarted = 2

	// StatusValid is set in a STATUS write, so a stray zero write is not
	// taken for a status of 0.
	StatusValid = 1 << 8
)

// Device is the status device's state, read by the host once the guest
// stopped.
type Device struct {
	mu       sync.Mutex
	ready    chan struct{}
	isReady  bool
	started  bool
	reported bool
	status   int
	msg      [MessageSize]byte
	report   string
}

// New makes a status device.
func New() *Device { return &Device{ready: make(chan struct{})} }

// Spec is the machine's description of the device.
func (d *Device) Spec(name string) vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: name,
		Area: vmm.AreaPlatform,
		Size: Size,
		New:  func(vmm.DeviceEnv) (vmm.MMIODevice, error) { return d, nil },
		Describe: func(dt vmm.DeviceTree, p vmm.Placement) {
			n := dt.AddDevice("sandbox-exit", p, vmm.TriggerLevel)
			n.Strings("compatible", Compatible)
		},
	}
}

// Ready is closed once the guest said it is ready for input.
func (d *Device) Ready() <-chan struct{} { return d.ready }

// Report is what the guest reported: whether the command started, and the
// final status with its message (ok is false when none was written).
type Report struct {
	Started bool
	OK      bool
	Status  int
	Message string
}

// Report returns what the guest has reported so far.
func (d *Device) Report() Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Report{Started: d.started, OK: d.reported, Status: d.status, Message: d.report}
}

// ReadMMIO implements vmm.MMIODevice.
func (d *Device) ReadMMIO(off uint64, data []byte) {
	clear(data)
	if off == RegMagic && len(data) >= 4 {
		binary.LittleEndian.PutUint32(data, Magic)
	}
}

// WriteMMIO implements vmm.MMIODevice.
func (d *Device) WriteMMIO(off uint64, data []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= RegMessage && off < RegMessage+MessageSize {
		copy(d.msg[off-RegMessage:], data)
		return
	}
	if len(data) < 4 {
		return
	}
	v := binary.LittleEndian.Uint32(data)
	switch off {
	case RegState:
		switch v {
		case StateReady:
			if !d.isReady {
				d.isReady = true
				close(d.ready)
			}
		case StateStarted:
			d.started = true
		}
	case RegStatus:
		if v&StatusValid == 0 || d.reported {
			return
		}
		d.reported = true
		d.status = int(v & 0xff)
		msg := string(d.msg[:])
		if i := strings.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		d.report = strings.ToValidUTF8(msg, "?")
	}
}
