// Package guestinit is the guest side of `gokvm sandbox`: the /init of
// the initramfs that gokvm builds. The same gokvm binary (or another one
// built from this module, --init) is that init: when it runs as process 1
// with the sandbox's configuration beside it, main calls Main before
// anything else.
//
// The init mounts proc, sys, dev and a tmpfs /tmp; loads the kernel
// modules gokvm put in the initramfs (virtio-mmio, 9p, overlayfs and what
// they need), in order; mounts the host's root read-only over 9p under a
// tmpfs overlay (writes vanish at exit), and each other share at its host
// path; moves into that root and the host's current directory; and runs
// the command on the sandbox's own UART, its status going back to gokvm
// through the status device (devices/exitdev) before the guest powers off.
package guestinit

import (
	"encoding/json"
	"os"
)

// ConfigPath is where the sandbox's configuration is in the initramfs.
const ConfigPath = "/gokvm-sandbox.json"

// Config is what gokvm tells the guest init, as JSON at ConfigPath.
type Config struct {
	// Command is the command and its arguments; the first is looked up
	// in Env's PATH unless it has a slash.
	Command []string `json:"command"`
	// Path is the command's file when gokvm found it in Env's PATH on the
	// host (whose root the guest sees): the init execs it without a
	// lookup of its own, which costs a 9p round trip or two for each
	// directory tried. Empty: the init looks Command[0] up itself.
	Path string `json:"path,omitempty"`
	// Dir is the working directory, a path in the host's root.
	Dir string `json:"dir"`
	// Env is the command's environment (PATH, HOME, TERM).
	Env []string `json:"env"`
	// Terminal: the command's standard input, output and error are the
	// UART as a terminal (its controlling terminal, cooked mode). When
	// false, output is raw and input arrives framed (see EncodeInput) and
	// reaches the command through a pipe that closes at the input's end.
	Terminal bool `json:"terminal,omitempty"`
	// Rows and Cols are the terminal's size (when known).
	Rows uint16 `json:"rows,omitempty"`
	Cols uint16 `json:"cols,omitempty"`
	// Modules are module files in the initramfs, in load order.
	Modules []string `json:"modules,omitempty"`
	// RootTag is the 9p tag of the host's root.
	RootTag string `json:"root_tag"`
	// Shares are other 9p shares, mounted at their host paths.
	Shares []Mount `json:"shares,omitempty"`
	// Warm: the init boots, loads the modules, mounts the host's root
	// (the same for every command), says so to the status device
	// (STATE 3) and waits there for the rest of its configuration
	// (the command, where and how to run it, the time), which gokvm gives
	// through the status device after saving the machine, or after
	// restoring it (gokvm sandbox --warm).
	Warm bool `json:"warm,omitempty"`
	// Time is the host's time (Unix nanoseconds) when gokvm gave the
	// command: the guest's clock is set to it. BootTime is the host's
	// time when gokvm started the guest, for a command given at boot:
	// the clock is set to it plus the kernel's uptime. The guest has no
	// clock of its own to read.
	Time     int64 `json:"time,omitempty"`
	BootTime int64 `json:"boot_time,omitempty"`
	// Timings: the init prints how long its steps took on the console.
	// gokvm asks for them only when the console is read (a console log
	// or results): each character on the console is an exit or two.
	Timings bool `json:"timings,omitempty"`
}

// Mount is a 9p share to mount in the guest.
type Mount struct {
	Tag      string `json:"tag"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// Marshal is the configuration as the initramfs holds it.
func (c *Config) Marshal() []byte {
	b, _ := json.Marshal(c)
	return b
}

// IsSandboxInit reports whether this process is the sandbox's init: process
// 1, started as /init, with the sandbox's configuration beside it.
func IsSandboxInit() bool {
	if os.Getpid() != 1 || len(os.Args) == 0 || os.Args[0] != "/init" {
		return false
	}
	_, err := os.Stat(ConfigPath)
	return err == nil
}

// Input framing when the command's input is not a terminal: the serial
// line has no end of file, so gokvm sends InputEscape doubled for a
// literal InputEscape byte, and InputEscape followed by InputEOF at the
// end of its input.
const (
	InputEscape = 0xff
	InputEOF    = 0x00
)

// Exit statuses the init reports (the host's table is in package sandbox).
const (
	StatusFailed      = 125
	StatusNotRunnable = 126
	StatusNotFound    = 127
)
