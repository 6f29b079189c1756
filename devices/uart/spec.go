package uart

import (
	"context"
	"io"
	"log"

	"github.com/gokvm/gokvm/devices/consoleio"

	"github.com/gokvm/gokvm/vmm"
)

// Spec makes the machine's description of a UART that is the guest's
// console: what the guest transmits goes to out, and in (when not nil) is
// fed to the guest while the machine runs. Its device-tree node is the
// guest's stdout-path.
func Spec(name string, out io.Writer, in io.Reader) vmm.DeviceSpec {
	if out == nil {
		out = io.Discard
	}
	return vmm.DeviceSpec{
		Name: name,
		Area: vmm.AreaPlatform,
		Size: Size,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			return &console{UART: New(out, env.SetLevel), in: in, log: env.Log}, nil
		},
		Describe: DescribeConsole,
	}
}

// Describe writes a UART's device-tree node: an ns16550a with its clock,
// on a level-triggered interrupt.
func Describe(dt vmm.DeviceTree, p vmm.Placement) vmm.DeviceNode {
	n := dt.AddDevice("uart", p, vmm.TriggerLevel)
	n.Strings("compatible", "ns16550a")
	n.U32("clock-frequency", ClockHz)
	return n
}

// DescribeConsole is Describe for the UART that is the guest's console.
func DescribeConsole(dt vmm.DeviceTree, p vmm.Placement) {
	dt.SetStdout(Describe(dt, p))
}

// console is a UART with an input to pump while the machine runs.
type console struct {
	*UART
	in  io.Reader
	log *log.Logger
}

var (
	_ vmm.MMIODevice = (*console)(nil)
	_ vmm.Starter    = (*console)(nil)
)

// Start implements vmm.Starter: input flows to the guest until ctx ends.
func (c *console) Start(ctx context.Context) {
	consoleio.Start(ctx, c.UART, c.in, c.log, "console")
}
