package machine

import (
	"io"
	"sync"

	"github.com/gokvm/gokvm/devices/pl011"
	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/devices/virtio/console"
	"github.com/gokvm/gokvm/devices/virtio/rng"
	"github.com/gokvm/gokvm/vmm"
)

// consoleDevices are the console devices for spec.Console: first goes
// before every other device (a UART's place is fixed), virtio after them.
//
//   - serial: the 16550A (ttyS0) is the console.
//   - pl011: a PL011 (ttyAMA0) at QEMU virt's address is the console and
//     the only UART, as on QEMU's virt board.
//   - virtio: a virtio-console (hvc0) takes the input; as in kvmtool the
//     16550A stays (ttyS0, the device tree's stdout-path, so earlycon and
//     messages before virtio_console loads have somewhere to go), and
//     both write to the output.
func consoleDevices(r *resolved, o Options) (first, virtioDevs []vmm.DeviceSpec) {
	switch r.spec.Console {
	case ConsolePL011:
		return []vmm.DeviceSpec{pl011.Spec("pl011", o.Stdout, o.Stdin)}, nil
	case ConsoleVirtio:
		out := o.Stdout
		if out != nil {
			out = &lockedWriter{w: out}
		}
		return []vmm.DeviceSpec{uart.Spec("uart0", out, nil)},
			[]vmm.DeviceSpec{console.Spec("virtio-console", r.virtioSpec, out, o.Stdin, o.Log)}
	}
	return []vmm.DeviceSpec{uart.Spec("uart0", o.Stdout, o.Stdin)}, nil
}

// rngDevices is the virtio-rng device when the spec asks for one.
func rngDevices(r *resolved, o Options) []vmm.DeviceSpec {
	if !r.spec.RNG {
		return nil
	}
	return []vmm.DeviceSpec{r.virtioSpec("virtio-rng", rng.New(nil, o.Log))}
}

// lockedWriter lets two console devices share one output (which need not
// be safe for concurrent writes) without interleaving inside a write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
