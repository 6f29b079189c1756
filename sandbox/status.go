package sandbox

import (
	"github.com/gokvm/gokvm/sandbox/guestinit"
)

// Exit statuses of `gokvm sandbox`, defined once: the command line
// returns them, its help and the README list them, and the end-to-end
// tests expect them. They follow `docker run` (125-127) and GNU
// `timeout` (124); any other status is the command's own.
const (
	// StatusTimeout: --timeout passed before the command ended.
	StatusTimeout = 124
	// StatusFailed: gokvm or the guest failed before the command ran
	// (bad flags, a kernel without 9p and no --modules, a missing
	// module, a guest kernel that went down while booting); the message
	// names what.
	StatusFailed = guestinit.StatusFailed
	// StatusNotRunnable: the command was found but could not be run
	// (not executable, not a program for the guest).
	StatusNotRunnable = guestinit.StatusNotRunnable
	// StatusNotFound: the command was not found.
	StatusNotFound = guestinit.StatusNotFound
	// StatusKernelDown: the guest kernel went down (a panic, a reset, or
	// a power-off the sandbox init did not make) while the command ran.
	// The init only ever powers off after reporting the command's
	// status, so anything else means the kernel went down. As in
	// virtme-ng, 255.
	StatusKernelDown = 255
	// StatusSignalBase: stopped from outside by signal N (SIGINT,
	// SIGTERM; Ctrl-A x counts as SIGINT): StatusSignalBase+N, as a
	// shell reports a command killed by a signal (130, 143). A command
	// killed by a signal inside the guest gets the same 128+N.
	StatusSignalBase = 128
)
