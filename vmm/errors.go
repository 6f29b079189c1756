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

// ConfigCause is a ConfigError with a message of its own, saying what the
// user can do, that still wraps cause: errors.Is sees through it (to
// fs.ErrPermission, say) while the message stays the one written here.
func ConfigCause(cause error, format string, args ...any) error {
	return &ConfigError{Err: &causedError{msg: fmt.Sprintf(format, args...), cause: cause}}
}

// causedError has a message of its own and wraps its cause.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }
