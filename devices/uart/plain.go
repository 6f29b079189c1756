package uart

import (
	"io"

	"github.com/gokvm/gokvm/vmm"
)

// PlainSpec makes the machine's description of a UART that is not the
// guest's console (no stdout-path, so no kernel console lands on it unless
// the command line puts one there): what the guest transmits goes to out,
// and in (when not nil) is fed to the guest while the machine runs. props,
// when given, add properties to its device-tree node, so a guest program
// can tell it from the other UARTs.
func PlainSpec(name string, out io.Writer, in io.Reader, props ...func(vmm.DeviceNode)) vmm.DeviceSpec {
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
		Describe: func(dt vmm.DeviceTree, p vmm.Placement) {
			n := Describe(dt, p)
			for _, f := range props {
				f(n)
			}
		},
	}
}
