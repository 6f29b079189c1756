package blk

import (
	"encoding/json"
	"fmt"

	"github.com/gokvm/gokvm/devices/devstate"

	"github.com/gokvm/gokvm/devices/virtio"
)

var _ virtio.StateDevice = (*Block)(nil)

// State is a block device's own saved state (virtio.StateDevice). The
// device keeps nothing between requests: the data is the image's, the
// queue's place the transport's, and a request in flight completed before
// the machine paused (the transport's Pause waits for it). What it holds
// is what the guest was told of the disk, so that a restore onto another
// one (resized, or another serial) is refused rather than let the guest
// go on with a disk that changed under it. Its JSON is the format: fields
// are added, never renamed.
type State struct {
	Sectors uint64 // capacity, as the config space gives it
	Serial  string // what GET_ID returns
}

// SaveDeviceState implements virtio.StateDevice.
func (b *Block) SaveDeviceState() ([]byte, error) {
	return json.Marshal(State{Sectors: b.disk.Sectors(), Serial: b.disk.opts.Serial})
}

// RestoreDeviceState implements virtio.StateDevice: it checks that the
// disk is the one the guest knew.
func (b *Block) RestoreDeviceState(st []byte) error {
	var s State
	if err := devstate.Decode(st, &s); err != nil {
		return fmt.Errorf("virtio-blk state: %w", err)
	}
	switch {
	case s.Sectors != b.disk.Sectors():
		return fmt.Errorf("disk %s has %d sectors, the saved guest's had %d", b.disk.opts.Path, b.disk.Sectors(), s.Sectors)
	case s.Serial != b.disk.opts.Serial:
		return fmt.Errorf("disk %s has serial %q, the saved guest's had %q", b.disk.opts.Path, b.disk.opts.Serial, s.Serial)
	}
	return nil
}
