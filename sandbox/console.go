package sandbox

import "github.com/gokvm/gokvm/machine"

// kernelConsole is the guest's tty for the kernel console (what
// Options.ConsoleLog keeps) on the spec's console device. With a
// virtio-console the kernel console stays on the 16550A (ttyS0), which
// the machine keeps for that: virtio_console is a module in distribution
// kernels, and the sandbox loads only what it needs. hvc0 writes to the
// console log too.
func kernelConsole(device string) string {
	if device == machine.ConsolePL011 {
		return "ttyAMA0"
	}
	return "ttyS0"
}
