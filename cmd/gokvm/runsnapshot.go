package main

import (
	"errors"
	"os"
	"sync"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/vmm"
)

// saveGate keeps the machine's teardown from unmapping guest RAM under a
// snapshot that is still writing it: a stop (a signal, the control
// socket) ends the run whenever it comes, and the run's end waits here
// before the machine is closed.
type saveGate struct {
	mu     sync.Mutex
	closed bool
}

// close waits for a snapshot being saved and refuses any after it.
func (g *saveGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Snapshot saves the machine for the control socket (gokvm snapshot).
// A machine with a part that cannot be saved is control.ErrCannotSave.
func (v controlledVM) Snapshot(state, ram *os.File, ramName string, stop bool) error {
	v.gate.mu.Lock()
	defer v.gate.mu.Unlock()
	if v.gate.closed {
		return errors.New("the VM is ending")
	}
	err := v.Machine.Snapshot(state, ram, ramName, stop)
	switch {
	case errors.Is(err, vmm.ErrNotSaveable):
		return control.CannotSave(err)
	case err != nil:
		return err
	}
	v.log.Printf("snapshot from the control socket: saved (RAM file %s)", ramName)
	return nil
}
