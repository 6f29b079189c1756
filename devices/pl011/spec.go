package pl011

import (
	"context"
	"io"
	"log"

	"github.com/gokvm/gokvm/devices/consoleio"

	"github.com/gokvm/gokvm/vmm"
)

// clockName is the fixed clock the UART runs from, named as on QEMU's
// virt board.
const clockName = "apb-pclk"

// Spec makes the machine's description of a PL011 that is the guest's
// console, in the board's fixed UART slot (0x0900_0000 on arm64, as on
// QEMU's virt board): what the guest transmits goes to out, and in (when
// not nil) is fed to it while the machine runs. Its device-tree node is
// the guest's stdout-path.
func Spec(name string, out io.Writer, in io.Reader) vmm.DeviceSpec {
	return vmm.DeviceSpec{
		Name: name,
		Area: vmm.AreaFixedUART,
		Size: Size,
		New: func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
			return &console{UART: New(out, env.SetLevel), in: in, log: env.Log}, nil
		},
		Describe: DescribeConsole,
	}
}

// Describe writes the PL011's device-tree node as Linux's AMBA bus and
// amba-pl011 driver want it: "arm,pl011" on the "arm,primecell" bus, its
// reference clock (uartclk) and bus clock (apb_pclk) both the board's
// fixed 24 MHz apb-pclk, on a level-triggered interrupt. The bus reads the
// peripheral ID from the device's ID registers.
func Describe(dt vmm.DeviceTree, p vmm.Placement) vmm.DeviceNode {
	clk := dt.FixedClock(clockName, ClockHz)
	n := dt.AddDevice("pl011", p, vmm.TriggerLevel)
	n.Strings("compatible", "arm,pl011", "arm,primecell")
	n.U32s("clocks", clk, clk)
	n.Strings("clock-names", "uartclk", "apb_pclk")
	return n
}

// DescribeConsole is Describe for the PL011 that is the guest's console.
func DescribeConsole(dt vmm.DeviceTree, p vmm.Placement) {
	dt.SetStdout(Describe(dt, p))
}

// console is a PL011 with an input to pump while the machine runs.
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
