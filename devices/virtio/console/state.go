package console

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
)

var (
	_ virtio.StateDevice = (*Console)(nil)
	_ vmm.StateDevice    = (*withInput)(nil)
)

// State is a console's own saved state (virtio.StateDevice): the host's
// input read and not yet given to the guest. The queues' places are the
// transport's, and a chain in flight completed before the machine paused
// (both loops take, fill or write, and return each chain inside the
// gate). Its JSON is the format: fields are added, never renamed.
type State struct {
	Input []byte
}

// SaveDeviceState implements virtio.StateDevice.
func (c *Console) SaveDeviceState() ([]byte, error) {
	return json.Marshal(State{Input: c.in.pending()})
}

// RestoreDeviceState implements virtio.StateDevice: the input waits for
// the guest's receive buffers as it did, ahead of any the restored
// machine reads.
func (c *Console) RestoreDeviceState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("virtio-console state: %w", err)
	}
	if len(s.Input) > inputSize {
		return fmt.Errorf("virtio-console state: %d bytes of input, more than the %d it holds", len(s.Input), inputSize)
	}
	c.in.set(s.Input)
	return nil
}

// SaveState and RestoreState implement vmm.StateDevice as the transport
// does.
func (w *withInput) SaveState() ([]byte, error) {
	sd, err := w.transport()
	if err != nil {
		return nil, err
	}
	return sd.SaveState()
}

func (w *withInput) RestoreState(b []byte) error {
	sd, err := w.transport()
	if err != nil {
		return err
	}
	return sd.RestoreState(b)
}

func (w *withInput) transport() (vmm.StateDevice, error) {
	sd, ok := w.MMIODevice.(vmm.StateDevice)
	if !ok {
		return nil, fmt.Errorf("%w: virtio-console's transport %T has no saved state", vmm.ErrNotSaveable, w.MMIODevice)
	}
	return sd, nil
}
