package vsock

import (
	"encoding/binary"
	"fmt"

	"github.com/gokvm/gokvm/devices/virtio"
)

// eventTransportReset is VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, the one
// event of the event queue (virtio 1.2, 5.10.6.5): the guest's
// connections are gone, and its CID may have changed.
const eventTransportReset = 0

// eventSize is struct virtio_vsock_event: le32 id. Linux's driver takes
// an event only when the device wrote exactly that many bytes
// (virtio_transport_event_work).
const eventSize = 4

// sendTransportReset tells the driver of a restored device that its
// connections are gone: their host ends were the saved kernel's sockets,
// and the restored kernel answers any packet of theirs with a reset
// anyway, but a connection that only waits to receive would never hear
// of it. Linux resets every connected socket and reads its CID again
// (virtio_vsock_event_handle), as after a live migration, for which QEMU
// sends the same event. It takes one of the buffers the driver keeps on
// the event queue, inside the gate; without one (a driver that posts
// none) the guest is not told.
func (v *Vsock) sendTransportReset(env virtio.ActivateEnv, stop <-chan struct{}) {
	defer v.wg.Done()
	pass := env.Gate.Pass()
	defer pass.Release()
	defer env.Recover("event queue")
	if !pass.Enter(stop) {
		return
	}
	defer pass.Leave()
	q := env.Queues[queueEvent]
	var c virtio.Chain
	ok, err := q.Pop(&c)
	switch {
	case err != nil:
		env.Fail(fmt.Errorf("event queue: %w", err))
		return
	case !ok:
		v.logf("the driver offers no event buffer: the guest's connections are not told of the restore (they are reset when they next send)")
		return
	}
	written := uint32(0)
	for _, b := range c.Buffers {
		if b.Writable && len(b.Data) >= eventSize {
			binary.LittleEndian.PutUint32(b.Data, eventTransportReset)
			written = eventSize
			break
		}
	}
	if written == 0 {
		v.logf("the driver's event buffer has no room for an event: the guest's connections are not told of the restore")
	}
	if err := q.Push(c.Head, written); err != nil {
		env.Fail(fmt.Errorf("event queue: %w", err))
		return
	}
	if q.ShouldInterrupt() {
		env.Interrupt(queueEvent)
	}
}

func (v *Vsock) logf(format string, args ...any) {
	if v.log != nil {
		v.log.Printf("%s: "+format, append([]any{v.name}, args...)...)
	}
}
