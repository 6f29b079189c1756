package vsock

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
)

var (
	_ virtio.StateDevice = (*Vsock)(nil)
	_ virtio.KernelRings = (*Vsock)(nil)
)

// State is a vsock device's own saved state (virtio.StateDevice): the
// guest's CID, which a restore must find again (the restored machine's
// device claims it anew from the host kernel when it is made). The rx
// and tx rings' places are the kernel's (RingStates), the event queue's
// the transport's. The guest's connections are not saved: their host
// ends were the saved kernel's sockets, gone with it. Its JSON is the
// format: fields are added, never renamed.
type State struct {
	CID uint64
}

// SaveDeviceState implements virtio.StateDevice.
func (v *Vsock) SaveDeviceState() ([]byte, error) { return json.Marshal(State{CID: v.cid}) }

// RestoreDeviceState implements virtio.StateDevice: it checks the CID.
func (v *Vsock) RestoreDeviceState(b []byte) error {
	var s State
	if err := devstate.Decode(b, &s); err != nil {
		return fmt.Errorf("virtio-vsock state: %w", err)
	}
	if s.CID != v.cid {
		return fmt.Errorf("the guest's vsock CID is %d, the saved guest's was %d", v.cid, s.CID)
	}
	return nil
}

// RingStates implements virtio.KernelRings: rx and tx are where
// vhost-vsock says (vhost.Rings.RingStates).
func (v *Vsock) RingStates() (map[int]virtio.RingState, error) { return v.rings.RingStates() }
