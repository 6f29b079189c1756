package net

import (
	"errors"
	"fmt"

	"github.com/gokvm/gokvm/vmm"
)

// causedError has a message of its own and wraps its cause, so that
// errors.Is (fs.ErrPermission, say) sees through it.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }

// configError is a vmm.ConfigError saying what the user can do about
// cause, in a message of its own.
func configError(cause error, format string, args ...any) error {
	return &vmm.ConfigError{Err: &causedError{msg: fmt.Sprintf(format, args...), cause: cause}}
}

// errClosed: a closed device does not start again.
var errClosed = errors.New("device closed")
