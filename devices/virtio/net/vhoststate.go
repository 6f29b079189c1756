package net

import (
	"encoding/json"

	"github.com/gokvm/gokvm/devices/virtio"
)

var (
	_ virtio.StateDevice = (*VhostNet)(nil)
	_ virtio.KernelRings = (*VhostNet)(nil)
)

// RingStates implements virtio.KernelRings: vhost-net's rings are where
// the kernel says (vhost.Rings.RingStates).
func (n *VhostNet) RingStates() (map[int]virtio.RingState, error) { return n.rings.RingStates() }

// SaveDeviceState implements virtio.StateDevice: the MAC. The kernel
// holds no frame of its own outside the rings: vhost-net takes a frame
// from the tap only into a receive chain, and detaching the tap (Pause)
// gives back what it had batched (vhost_net_buf_unproduce in
// drivers/vhost/net.c).
func (n *VhostNet) SaveDeviceState() ([]byte, error) {
	return json.Marshal(State{MAC: n.mac.String(), Backend: backendVhost})
}

// RestoreDeviceState implements virtio.StateDevice, as Net's; a state
// with a held frame comes from a userspace device, and is refused as
// another kind of backend.
func (n *VhostNet) RestoreDeviceState(b []byte) error {
	_, err := decodeNetState(b, n.mac, backendVhost)
	return err
}
