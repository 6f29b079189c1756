package virtio

import "fmt"

// A host kernel driver (vhost) signals an eventfd per queue for used
// buffers. Over virtio-mmio that eventfd can be a KVM irqfd on the
// device's line, so the kernel raises the interrupt with no goroutine of
// gokvm's in between (ActivateEnv.InterruptFD); but the driver's handler
// reads InterruptStatus and ignores the interrupt unless USED_BUFFER is
// set there, and no one in gokvm sees the signal to set it. So while
// such queues run, InterruptStatus always has USED_BUFFER: Linux's
// vm_interrupt then looks at every queue's used ring, and one with
// nothing new costs it a comparison. Deriving the bit from the rings
// instead (a used index that moved since the driver's last
// acknowledgement) would miss the rare interrupt after the driver polled
// a multiple of 65536 entries without one, and hang the queue.

// setPulseFD gives the transport the machine's way to make an eventfd
// raise its interrupt (vmm.DeviceEnv.PulseFD), before the guest runs:
// then its devices' ActivateEnv has InterruptFD. Only a layout whose
// driver learns of used buffers from InterruptStatus, where the transport
// can report them this way (virtio-mmio), sets it.
func (t *transport) setPulseFD(f func(fd int) (func() error, error)) {
	t.mu.Lock()
	t.pulseFD = f
	t.mu.Unlock()
}

// interruptFD is an activation's ActivateEnv.InterruptFD, over its
// queues; nil without a pulseFD. Activate calls it with t.mu held.
func (t *transport) interruptFD(queues []*Queue) func(i, fd int) (func() error, error) {
	if t.pulseFD == nil {
		return nil
	}
	return func(i, fd int) (func() error, error) {
		if i < 0 || i >= len(queues) || !queues[i].Ready {
			return nil, fmt.Errorf("queue %d is not set up", i)
		}
		release, err := t.pulseFD(fd)
		if err != nil {
			return nil, err
		}
		t.kernelQueues++
		return release, nil
	}
}

// kernelUsedLocked is InterruptUsedBuffer while queues whose interrupts
// the kernel raises run; t.mu is held.
func (t *transport) kernelUsedLocked() uint32 {
	if t.kernelQueues > 0 {
		return InterruptUsedBuffer
	}
	return 0
}
