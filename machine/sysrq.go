package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gokvm/gokvm/devices/uart"
	"github.com/gokvm/gokvm/vmm"
)

// sysrqWait bounds how long SysRq waits for room in the console's receive
// FIFO for the key (a guest that does not read its console).
const sysrqWait = 2 * time.Second

// keepConsole notes the console device when the machine creates it.
func (m *Machine) keepConsole(spec vmm.DeviceSpec) vmm.DeviceSpec {
	create := spec.New
	spec.New = func(env vmm.DeviceEnv) (vmm.MMIODevice, error) {
		d, err := create(env)
		if err == nil {
			m.console = d
		}
		return d, err
	}
	return spec
}

// SysRq sends a magic SysRq through the guest's serial console, as
// kvmtool's lkvm debug --sysrq: a break, then key. The guest's kernel
// must have CONFIG_MAGIC_SYSRQ_SERIAL and the console on that port.
func (m *Machine) SysRq(key byte) error {
	b, ok := m.console.(uart.Breaker)
	if !ok {
		return errors.New("the console cannot send a break")
	}
	f, ok := m.console.(interface {
		Feed(ctx context.Context, p []byte) error
	})
	if !ok {
		return errors.New("the console takes no input")
	}
	if err := b.SendBreak(); err != nil {
		return fmt.Errorf("sending a break: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sysrqWait)
	defer cancel()
	if err := f.Feed(ctx, []byte{key}); err != nil {
		return fmt.Errorf("sending the key after the break: %w (the guest does not read its console)", err)
	}
	return nil
}
