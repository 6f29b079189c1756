package net

import (
	"errors"

	"github.com/gokvm/gokvm/vmm"
)

// configError is a vmm.ConfigError saying what the user can do about
// cause, in a message of its own.
func configError(cause error, format string, args ...any) error {
	return vmm.ConfigCause(cause, format, args...)
}

// errClosed: a closed device does not start again.
var errClosed = errors.New("device closed")
