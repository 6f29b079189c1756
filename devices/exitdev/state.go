package exitdev

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/vmm"
)

var _ vmm.StateDevice = (*Device)(nil)

// State is the status device's saved state: what the guest has said so
// far, and the command it was given. A warm sandbox's is saved with
// Warm set and no command; each restore gives its own. Its JSON is the
// format: fields are added, never renamed.
type State struct {
	Warm     bool   `json:"warm,omitempty"`
	Ready    bool   `json:"ready,omitempty"`
	Started  bool   `json:"started,omitempty"`
	Reported bool   `json:"reported,omitempty"`
	Status   int    `json:"status,omitempty"`
	Message  []byte `json:"message,omitempty"` // the MESSAGE area as written
	Command  []byte `json:"command,omitempty"`
	CmdOff   uint32 `json:"cmd_off,omitempty"`
}

// SaveState implements vmm.StateDevice.
func (d *Device) SaveState() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := bytes.TrimRight(d.msg[:], "\x00")
	return json.Marshal(State{
		Warm: d.isWarm, Ready: d.isReady, Started: d.started, Reported: d.reported,
		Status: d.status, Message: msg, Command: d.cmd, CmdOff: d.cmdOff,
	})
}

// RestoreState implements vmm.StateDevice on a new device: a state no
// guest could have left is refused, naming what is wrong.
func (d *Device) RestoreState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("sandbox status device state: %w", err)
	}
	switch {
	case len(s.Message) > MessageSize:
		return fmt.Errorf("sandbox status device state: a %d-byte message, more than its %d", len(s.Message), MessageSize)
	case len(s.Command) > MaxCommand:
		return fmt.Errorf("sandbox status device state: a %d-byte command, more than its %d", len(s.Command), MaxCommand)
	case s.Status < 0 || s.Status > 255:
		return fmt.Errorf("sandbox status device state: status %d", s.Status)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.isReady || d.isWarm || d.started || d.reported || d.cmd != nil {
		return errors.New("sandbox status device state: restored onto a device the guest already used")
	}
	if s.Started {
		d.setStartedLocked()
	}
	d.status, d.cmdOff = s.Status, s.CmdOff
	clear(d.msg[:])
	copy(d.msg[:], s.Message)
	if s.Reported {
		msg := string(s.Message)
		if i := strings.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		d.report = strings.ToValidUTF8(msg, "?")
		d.setReportedLocked()
	}
	if len(s.Command) > 0 {
		d.cmd = s.Command
	}
	if s.Ready {
		d.isReady = true
		close(d.ready)
	}
	if s.Warm {
		d.setWarmLocked()
	}
	return nil
}
