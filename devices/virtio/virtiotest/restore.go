package virtiotest

import (
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
)

// Save returns the transport's saved state (vmm.StateDevice), as a paused
// machine's SaveState asks for it.
func (d *Driver) Save() ([]byte, error) {
	sd, ok := d.Dev.(vmm.StateDevice)
	if !ok {
		return nil, fmt.Errorf("%T is not a vmm.StateDevice", d.Dev)
	}
	return sd.SaveState()
}

// MustSave is Save, failing the test on an error.
func (d *Driver) MustSave() []byte {
	st, err := d.Save()
	if err != nil {
		d.T.Fatalf("saving the transport: %v", err)
	}
	return st
}

// Restore makes a fresh transport of version for dev over d's guest
// memory, as New does, and restores state into it, as a restored
// machine's devices are: the returned driver goes on where d was (its
// rings, the buffers it allocated), with interrupts of its own. d's
// transport is left as it is: close it first, as the saved machine is
// gone. The restore's error is returned with the driver.
func (d *Driver) Restore(version virtio.TransportVersion, dev virtio.Device, state []byte) (*Driver, error) {
	n := d.successor()
	n.attach(version, dev)
	return n, n.Dev.(vmm.StateDevice).RestoreState(state)
}

// RestoreFromSpec is Restore for a device made as NewFromSpec makes it.
func (d *Driver) RestoreFromSpec(spec vmm.DeviceSpec, watch func(offset uint64, value uint32) (vmm.Notification, error), state []byte) (*Driver, error) {
	n := d.successor()
	n.attachSpec(spec, watch)
	sd, ok := n.Dev.(vmm.StateDevice)
	if !ok {
		return n, fmt.Errorf("%T is not a vmm.StateDevice", n.Dev)
	}
	return n, sd.RestoreState(state)
}

// successor is a driver over d's guest memory that carries on from d's
// view of it, without a transport yet.
func (d *Driver) successor() *Driver {
	n := newDriver(d.T)
	n.Mem = d.Mem
	n.qsize, n.cur, n.alloc = d.qsize, d.cur, d.alloc
	n.rings = append([]ring(nil), d.rings...)
	return n
}
