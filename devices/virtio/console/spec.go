package console

import (
	"context"
	"io"
	"log"

	"github.com/gokvm/gokvm/devices/consoleio"

	"github.com/gokvm/gokvm/devices/virtio"
	"github.com/gokvm/gokvm/vmm"
)

// Spec makes the machine's description of a virtio-console that is the
// guest's hvc0: what the guest writes goes to out, and in (when not nil)
// is read from the time the machine starts and fed to the guest once its
// driver offers buffers (the guest loads virtio_console as a module).
func Spec(name string, transport virtio.SpecFunc, out io.Writer, in io.Reader, logger *log.Logger) vmm.DeviceSpec {
	dev := New(out, logger)
	spec := transport(name, dev)
	newTransport := spec.New
	spec.New = func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
		t, err := newTransport(env)
		if err != nil {
			return nil, err
		}
		return &withInput{MMIODevice: t, dev: dev, in: in, log: env.Log}, nil
	}
	return spec
}

// withInput is the transport with the input pump it starts.
type withInput struct {
	vmm.MMIODevice
	dev *Console
	in  io.Reader
	log *log.Logger
}

var (
	_ vmm.Starter = (*withInput)(nil)
	_ vmm.Pauser  = (*withInput)(nil)
	_ io.Closer   = (*withInput)(nil)
)

// Start implements vmm.Starter: input flows until ctx ends.
func (w *withInput) Start(ctx context.Context) {
	consoleio.Start(ctx, w.dev, w.in, w.log, "virtio-console")
}

// Pause and Resume implement vmm.Pauser as the transport does.
func (w *withInput) Pause()  { w.MMIODevice.(vmm.Pauser).Pause() }
func (w *withInput) Resume() { w.MMIODevice.(vmm.Pauser).Resume() }

// Close implements io.Closer as the transport does (closing the device).
func (w *withInput) Close() error { return w.MMIODevice.(io.Closer).Close() }
