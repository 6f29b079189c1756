package virtio

import "fmt"

// A host kernel driver (vhost) signals an eventfd per queue for used
// buffers. Over virtio-mmio that eventfd can be a KVM irqfd on the
// device's line, so the kernel raises the interrupt with no goroutine of
// gokvm's in between (ActivateEnv.InterruptFD); but the driver's handler
// reads InterruptStatus and ignores the interrupt unless USED_BUFFER is
// set there, and no one in gokvm sees the signal to set it. So the
// transport reads it from the rings: USED_BUFFER is set while such a
// queue's used index differs from what it was when the driver last
// acknowledged USED_BUFFER (Linux's vm_interrupt acknowledges before it
// looks at the rings, so every entry up to that index is the handler's),
// and from the hand-over until the first acknowledgement, which covers a
// restored device whose saved interrupt was still to come.

// kernelUsed is a queue whose used-buffer interrupts a host kernel
// driver raises itself.
type kernelUsed struct {
	q     *Queue
	acked uint16 // its used index when the driver last acknowledged USED_BUFFER
	fresh bool   // no acknowledgement since the hand-over
}

// SetPulseFD gives the transport the machine's way to make an eventfd
// raise its interrupt (vmm.DeviceEnv.PulseFD), before the guest runs:
// then its devices' ActivateEnv has InterruptFD. Only a layout whose
// driver reads InterruptStatus from the rings' state this way (virtio-mmio)
// sets it.
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
		t.kernelUsed = append(t.kernelUsed, kernelUsed{q: queues[i], fresh: true})
		return release, nil
	}
}

// kernelUsedLocked is InterruptUsedBuffer when a queue whose interrupts
// the kernel raises has used buffers the driver may not have seen; t.mu
// is held.
func (t *transport) kernelUsedLocked() uint32 {
	for i := range t.kernelUsed {
		k := &t.kernelUsed[i]
		if k.fresh {
			return InterruptUsedBuffer
		}
		if idx, err := k.q.ringUsedIdx(); err == nil && idx != k.acked {
			return InterruptUsedBuffer
		}
	}
	return 0
}

// ackKernelUsedLocked records, as the driver acknowledges USED_BUFFER,
// where each such queue's used index is; t.mu is held.
func (t *transport) ackKernelUsedLocked() {
	for i := range t.kernelUsed {
		k := &t.kernelUsed[i]
		if idx, err := k.q.ringUsedIdx(); err == nil {
			k.acked, k.fresh = idx, false
		}
	}
}
