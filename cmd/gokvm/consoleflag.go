package main

import (
	"fmt"

	"github.com/gokvm/gokvm/machine"
)

// checkConsoleFlag names --console and its value when the value is not a
// console device.
func checkConsoleFlag(v string) error {
	switch v {
	case machine.ConsoleSerial, machine.ConsolePL011, machine.ConsoleVirtio:
		return nil
	}
	return fmt.Errorf("--console %q: want serial, pl011 or virtio", v)
}
