package vmm

import (
	"errors"
	"fmt"
)

// ConfigError reports a problem with what the user asked for: a flag value,
// a kernel or initrd file, a memory size. Front ends map it to their usage
// exit status; everything else is gokvm's or the host's failure.
type ConfigError struct {
	Err error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Configf builds a ConfigError from a format string.
func Configf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// IsConfigError reports whether err, or any error it wraps, is a ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
