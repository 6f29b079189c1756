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
//	0x004 STATE    write: 1 = ready (gokvm may send input), 2 = the command started,
//	               3 = warm (booted, waiting for its command: gokvm may save the machine),
//	               4 = the command exited (its status follows, once output is drained)
//	0x008 STATUS   write: StatusValid | status (0-255): the final status
//	0x00C CMDLEN   read: the length of the command gokvm gave (0: none yet)
//	0x010 CMDOFF   write: the offset in the command that CMDDATA shows
//	0x100 MESSAGE  write (any width): MessageSize bytes of text, NUL-terminated,
//	               read by gokvm when STATUS is written
//	0x800 CMDDATA  read (32- or 64-bit): CommandWindow bytes of the command from CMDOFF
//
// A warm sandbox (gokvm sandbox --warm) boots once, and its init says
// STATE 3 when it is ready for a command; gokvm saves the machine there,
// and every later run restores it and gives the command (SetCommand),
// which the init polls CMDLEN for and reads through the CMDDATA window.
package exitdev

import (
	"encoding/binary"
	"errors"
	"fmt"
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
	RegCmdLen  = 0x00C
	RegCmdOff  = 0x010
	RegMessage = 0x100
	RegCmdData = 0x800

	MessageSize = 0x100
	// CommandWindow is how much of the command CMDDATA shows at once.
	CommandWindow = 0x800
	// MaxCommand bounds the command SetCommand takes: a command line
	// and environment far larger than a shell's, and still few enough
	// MMIO reads for the guest to fetch in a few milliseconds.
	MaxCommand = 256 << 10
	// Size is the window's size.
	Size = RegCmdData + CommandWindow

	Magic = 0x676b7378

	StateReady   = 1
	StateStarted = 2
	StateWarm    = 3
	StateExited  = 4

	// StatusValid is set in a STATUS write, so a stray zero write is not
	// taken for a status of 0.
	StatusValid = 1 << 8
)

// Device is the status device's state, read by the host once the guest
// stopped.
type Device struct {
	mu      sync.Mutex
	ready   chan struct{}
	isReady bool
	warm    chan struct{}
	isWarm  bool
	started bool
	// startedC is closed once started is set.
	startedC chan struct{}
	reported bool
	// reportedC is closed once reported is set.
	reportedC chan struct{}
	status    int
	msg       [MessageSize]byte
	report    string
	cmd       []byte
	cmdOff    uint32
	timeline  Timeline
}

// New makes a status device.
func New() *Device {
	return &Device{ready: make(chan struct{}), warm: make(chan struct{}), startedC: make(chan struct{}), reportedC: make(chan struct{})}
}

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

// Warm is closed once the guest's init said it is booted and waits for
// its command (STATE 3), or when the device was restored in that state.
func (d *Device) Warm() <-chan struct{} { return d.warm }

// SetCommand gives the waiting init its command (the JSON of
// guestinit.Command). It is given once: a second call is refused, as is
// one larger than MaxCommand.
func (d *Device) SetCommand(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.cmd != nil:
		return errors.New("the sandbox's command was given already")
	case len(b) == 0:
		return errors.New("an empty command")
	case len(b) > MaxCommand:
		return fmt.Errorf("the command and its environment take %d bytes, more than the %d the status device carries", len(b), MaxCommand)
	}
	d.cmd = append([]byte(nil), b...)
	markLocked(&d.timeline.Given)
	return nil
}

// Started is closed once the guest's init said the command started (it
// was executed), or when the device was restored in that state.
func (d *Device) Started() <-chan struct{} { return d.startedC }

func (d *Device) setStartedLocked() {
	if !d.started {
		d.started = true
		close(d.startedC)
	}
}

// Reported is closed once the guest wrote its final status (Report has
// it), or when the device was restored in that state. The sandbox init
// writes it after it synced the guest's filesystems and drained the
// command's output, as the last thing before it powers off.
func (d *Device) Reported() <-chan struct{} { return d.reportedC }

func (d *Device) setReportedLocked() {
	if !d.reported {
		d.reported = true
		close(d.reportedC)
	}
}

func (d *Device) setWarmLocked() {
	if !d.isWarm {
		d.isWarm = true
		close(d.warm)
	}
}

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
	switch {
	case off == RegMagic && len(data) >= 4:
		binary.LittleEndian.PutUint32(data, Magic)
	case off == RegCmdLen && len(data) >= 4:
		d.mu.Lock()
		binary.LittleEndian.PutUint32(data, uint32(len(d.cmd)))
		if d.cmd != nil {
			markLocked(&d.timeline.Seen)
		}
		d.mu.Unlock()
	case off >= RegCmdData && off < RegCmdData+CommandWindow:
		d.mu.Lock()
		// The offset is the guest's: anything past the command reads
		// as zeros, never past the slice.
		if at := uint64(d.cmdOff) + off - RegCmdData; at < uint64(len(d.cmd)) {
			copy(data, d.cmd[at:])
		}
		d.mu.Unlock()
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
			markLocked(&d.timeline.Ready)
		case StateStarted:
			d.setStartedLocked()
			markLocked(&d.timeline.Started)
		case StateWarm:
			d.setWarmLocked()
		case StateExited:
			markLocked(&d.timeline.Exited)
		}
	case RegCmdOff:
		d.cmdOff = v
	case RegStatus:
		if v&StatusValid == 0 || d.reported {
			return
		}
		d.status = int(v & 0xff)
		msg := string(d.msg[:])
		if i := strings.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		d.report = strings.ToValidUTF8(msg, "?")
		markLocked(&d.timeline.Reported)
		d.setReportedLocked() // last: a waiter reads the report
	}
}
