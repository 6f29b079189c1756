package virtio

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gokvm/gokvm/vmm"
)

// SpecFunc makes the machine's description of a virtio device behind a
// transport: MMIOSpecs' or PCISpec.
type SpecFunc func(name string, dev Device) vmm.DeviceSpec

// MMIOSpecs is the SpecFunc of virtio-mmio of version.
func MMIOSpecs(version TransportVersion) SpecFunc {
	return func(name string, dev Device) vmm.DeviceSpec { return Spec(name, version, dev) }
}

// Describe writes a virtio-mmio window's device-tree node. Its interrupt
// is an edge, as in kvmtool: each used-buffer notification is one irqfd
// write (kvmtool pulses the line with KVM_IRQ_LINE).
func Describe(dt vmm.DeviceTree, p vmm.Placement) {
	n := dt.AddDevice("virtio", p, vmm.TriggerEdge)
	n.Strings("compatible", "virtio,mmio")
	n.Flag("dma-coherent")
}

// Spec makes the machine's description of a virtio-mmio device: the
// transport in its window, and each queue's notifications routed through
// KVM ioeventfds where the host has them, so a notify costs the vcpu no
// exit to gokvm. The device is the machine's from then on: the machine's
// Close closes it (and the backend it owns) when it is an io.Closer, the
// machine's Pause pauses it, and a bug in gokvm on one of its goroutines
// (a recovered panic) is reported to the machine (vmm.DeviceEnv.Fault).
func Spec(name string, version TransportVersion, dev Device) vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name:     name,
		Area:     vmm.AreaVirtio,
		Size:     MMIOSize,
		Describe: Describe,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			t := NewMMIO(name, version, dev, env.Mem, env.Pulse, env.Log)
			t.OnFault(env.Fault)
			if env.PulseFD != nil {
				t.SetPulseFD(env.PulseFD)
			}
			a := &attached{MMIO: t, dev: dev}
			byFD := fdNotifiedQueues(dev)
			for i := 0; i < t.NumQueues(); i++ {
				efd, err := env.WatchWrite(RegQueueNotify, uint32(i))
				if errors.Is(err, vmm.ErrUnsupported) {
					break // notifications come as MMIO exits instead
				}
				if err != nil {
					a.Close()
					return nil, fmt.Errorf("queue %d notifications: %w", i, err)
				}
				a.efds = append(a.efds, efd)
				t.notifyWith(i, efd, byFD[i])
			}
			return a, nil
		},
	}
}

var (
	_ vmm.MMIODevice = (*attached)(nil)
	_ vmm.Pauser     = (*attached)(nil)
	_ io.Closer      = (*attached)(nil)
)

// attached is a transport with its queues' notifications. It pauses as
// its transport does.
type attached struct {
	*MMIO
	dev  Device
	efds []vmm.Notification

	closeOnce sync.Once
	closeErr  error
}

// Close stops the device, closes its notifications and the device's
// backend. Every call returns the first one's result, once it is done.
func (a *attached) Close() error {
	a.closeOnce.Do(func() {
		a.MMIO.Close()
		for _, e := range a.efds {
			e.Close()
		}
		if c, ok := a.dev.(io.Closer); ok {
			a.closeErr = c.Close()
		}
	})
	return a.closeErr
}
