package virtio

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a panic recovered on a device's goroutine: a bug in
// gokvm, which fails the device rather than gokvm.
type PanicError struct {
	Where string // the goroutine ("request queue")
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack where it panicked
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s: panic: %v", e.Where, e.Value) }

// Unwrap lets errors.Is see a runtime error the panic carried.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Recover, deferred first thing by each of a device's goroutines (where
// names it), is the last line of defence against a bug in gokvm: a panic on
// that goroutine is recovered, and reported as a *PanicError through
// env.Fault (or env.Fail without one), and the goroutine ends. A device
// that keeps a Gate Pass defers its Release before Recover.
func (e *ActivateEnv) Recover(where string) {
	r := recover()
	if r == nil {
		return
	}
	err := &PanicError{Where: where, Value: r, Stack: debug.Stack()}
	switch {
	case e.Fault != nil:
		e.Fault(err)
	case e.Fail != nil:
		e.Fail(err)
	}
}
