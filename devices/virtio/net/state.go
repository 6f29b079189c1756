package net

import (
	"encoding/json"
	"fmt"
	stdnet "net"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
)

var _ virtio.StateDevice = (*Net)(nil)

// Backend kinds, as a saved state names them.
const (
	backendTap   = "tap" // a tap, or another PacketIO that takes GSO frames
	backendUser  = "user"
	backendVhost = "vhost-net"
)

// State is a virtio-net device's own saved state (virtio.StateDevice).
// The queues' places are the transport's (for vhost-net, the kernel's,
// through virtio.KernelRings). What the guest was told and a restore must
// find again is the MAC (its header length and mergeable buffers follow
// from the negotiated features, which the transport restores, and its
// offloads from the backend, which changes the features offered: the
// transport refuses a state offered other features). The backend is not
// saved but opened again as the restored machine's spec says (a tap by
// its name, which may be another; a user network started afresh). Its
// JSON is the format: fields are added, never renamed.
type State struct {
	MAC string
	// Backend is tap, user or vhost-net: a restore onto another kind is
	// refused, naming both.
	Backend string
	// Frame is a frame the device had read from its backend and not yet
	// given the guest when the machine was saved, with its virtio-net
	// header of HeaderLen bytes: the restored device gives it first.
	// Transmitted frames are never held: the transmit queue sends and
	// returns each chain inside the gate, so a chain taken was sent and
	// is used in the saved RAM.
	Frame     []byte `json:",omitempty"`
	HeaderLen int    `json:",omitempty"`
}

// backendKind is the kind of n's backend, for its saved state.
func (n *Net) backendKind() string {
	if _, ok := n.io.(NoGSO); ok {
		return backendUser
	}
	return backendTap
}

// SaveDeviceState implements virtio.StateDevice: the MAC, the backend's
// kind, and the frame the receive goroutine holds. The transport is
// paused, so the goroutine is outside the gate, where no part of a frame
// is in the rings (deliver rolls back a frame it cannot place whole).
// A frame it reads after this is not in the saved state, as one that came
// a moment later would not be.
func (n *Net) SaveDeviceState() ([]byte, error) {
	s := State{MAC: n.mac.String(), Backend: n.backendKind(), Frame: n.frames.heldCopy()}
	if s.Frame != nil {
		s.HeaderLen = n.hdrLen
	}
	return json.Marshal(s)
}

// RestoreDeviceState implements virtio.StateDevice: it checks that the
// device is the one the guest knew (its MAC, its kind of backend) and
// keeps the held frame for the activation that restores the device.
func (n *Net) RestoreDeviceState(b []byte) error {
	s, err := decodeNetState(b, n.mac, n.backendKind())
	if err != nil {
		return err
	}
	n.frames.setRestored(s.Frame, s.HeaderLen)
	return nil
}

// decodeNetState reads and checks a saved State for a device with mac
// and a backend of kind.
func decodeNetState(b []byte, mac stdnet.HardwareAddr, kind string) (State, error) {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return State{}, fmt.Errorf("virtio-net state: %w", err)
	}
	saved, err := stdnet.ParseMAC(s.MAC)
	switch {
	case err != nil || len(saved) != 6:
		return State{}, fmt.Errorf("virtio-net state: MAC %q is not one", s.MAC)
	case saved.String() != mac.String():
		return State{}, fmt.Errorf("the NIC's MAC is %s, the saved guest's was %s", mac, saved)
	case s.Backend != kind:
		return State{}, fmt.Errorf("the NIC's backend is %s, the saved guest's was %s", kind, s.Backend)
	case s.Frame == nil && s.HeaderLen != 0:
		return State{}, fmt.Errorf("virtio-net state: a header length (%d) without a frame", s.HeaderLen)
	case s.Frame == nil:
		return s, nil
	case kind == backendVhost:
		return State{}, fmt.Errorf("virtio-net state: a held frame for vhost-net, which holds none")
	case s.HeaderLen != 10 && s.HeaderLen != vnetHdrSize:
		return State{}, fmt.Errorf("virtio-net state: a held frame's header of %d bytes (virtio-net's are 10 or %d)", s.HeaderLen, vnetHdrSize)
	case len(s.Frame) < s.HeaderLen || len(s.Frame) > maxFrame+s.HeaderLen:
		return State{}, fmt.Errorf("virtio-net state: a held frame of %d bytes (from its %d-byte header to %d)", len(s.Frame), s.HeaderLen, maxFrame+s.HeaderLen)
	}
	return s, nil
}
