package exitdev

import "time"

// Timeline is when the sandbox init's steps reached the device, by the
// host's clock: what `--stats` shows of a sandbox run, so a slow run says
// which step was slow. A step not reached in this process is zero (a
// restored device starts a timeline of its own: the saved steps happened
// in another process).
type Timeline struct {
	// Given: gokvm gave the command (SetCommand).
	Given time.Time
	// Seen: the init first read a CMDLEN that showed the command.
	Seen time.Time
	// Ready: STATE 1, the init is about to start the command (its
	// configuration read, the clock set, the shares mounted).
	Ready time.Time
	// Started: STATE 2, the command was executed.
	Started time.Time
	// Exited: STATE 4, the init saw the command end.
	Exited time.Time
	// Reported: the init wrote the final status (its output drained, the
	// filesystems synced).
	Reported time.Time
}

// Timeline returns the steps reached so far.
func (d *Device) Timeline() Timeline {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timeline
}

// markLocked records now as step *at when it is the step's first time.
func markLocked(at *time.Time) {
	if at.IsZero() {
		*at = time.Now()
	}
}
