package rng

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
)

var _ virtio.StateDevice = (*RNG)(nil)

// State is an entropy device's own saved state (virtio.StateDevice):
// nothing. Its bytes are the host's, fresh from getrandom; the queue's
// place is the transport's, and a request in flight completed before the
// machine paused (its serving loop fills and returns each chain inside
// the gate). It is an object still, so that fields can be added.
type State struct{}

// SaveDeviceState implements virtio.StateDevice.
func (r *RNG) SaveDeviceState() ([]byte, error) { return json.Marshal(State{}) }

// RestoreDeviceState implements virtio.StateDevice.
func (r *RNG) RestoreDeviceState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("virtio-rng state: %w", err)
	}
	return nil
}
