// Package control is gokvm's control socket: a VM started with a name
// (gokvm run --name) listens on a Unix socket in a per-user state
// directory, and this package's Client (or gokvm list, pause, resume,
// stop, snapshot, debug, wait and console) talks to it.
//
// The protocol (docs/control.md) is newline-delimited JSON: a client
// sends one Request per line and reads one Response per line. Requests on
// one connection are answered in order. "wait" and "stop" are answered
// when the VM has ended; "console", once answered, turns the connection
// into the raw console stream; "snapshot" is answered with a request for
// the files, which the client passes as descriptors (SCM_RIGHTS).
package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Version is the protocol version a Request carries and a Response
// answers with.
const Version = 1

// MaxLine bounds one request line, newline included: longer ones are
// refused and the connection closed.
const MaxLine = 4096

// Ops a Request can name.
const (
	OpInfo    = "info"    // the VM's Info
	OpPause   = "pause"   // stop the vcpus where they are
	OpResume  = "resume"  // let a paused VM go on
	OpDump    = "dump"    // each vcpu's state, as SIGUSR1 prints it
	OpSysRq   = "sysrq"   // a break, then Key, on the console: a magic SysRq
	OpStop    = "stop"    // stop the VM as SIGTERM does; answered when it ended
	OpWait    = "wait"    // answered when the VM ended, with its exit status
	OpConsole = "console" // attach to the console: the connection becomes its stream
	// OpSnapshot saves the VM to files the client creates and passes
	// (snapshot.go): the VM may not create files itself.
	OpSnapshot = "snapshot"
)

// Request is one line a client sends.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Key is the SysRq key, one printable ASCII character.
	Key string `json:"key,omitempty"`
	// Stop and RAMFile are a snapshot's: stop the VM once it is saved,
	// and the RAM file's name as the state file records it (a name in
	// the state file's directory).
	Stop    bool   `json:"stop,omitempty"`
	RAMFile string `json:"ram_file,omitempty"`
}

// Response is one line the VM answers.
type Response struct {
	Version int  `json:"version"`
	OK      bool `json:"ok"`
	// Error says why the request failed (OK false).
	Error string `json:"error,omitempty"`
	Info  *Info  `json:"info,omitempty"`
	// Dump is the vcpu dump, one line per vcpu after a heading.
	Dump string `json:"dump,omitempty"`
	// Status and Outcome answer wait and stop: gokvm run's exit status
	// for the VM and what ended it.
	Status  *int   `json:"status,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// SendFiles asks a snapshot's client for the two descriptors.
	SendFiles bool `json:"send_files,omitempty"`
	// CannotSave says a snapshot failed because the VM has a part that
	// cannot be saved (ErrCannotSave), not because saving it failed.
	CannotSave bool `json:"cannot_save,omitempty"`
}

// Info describes a VM (gokvm list).
type Info struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// State is starting (being built), running, paused or ending.
	State   string    `json:"state"`
	Started time.Time `json:"started"`
	// UptimeSeconds is how long ago it started.
	UptimeSeconds float64 `json:"uptime_s"`
	VCPUs         int     `json:"vcpus"`
	// Memory is the guest RAM as -m gave it (MiB, or with a suffix).
	Memory string `json:"memory"`
	// Kernel is the kernel's file, or the firmware's for a VM booted
	// with --firmware.
	Kernel string `json:"kernel"`
	// Detached says the VM runs in the background (run --detach): its
	// console is reached with gokvm console.
	Detached bool `json:"detached"`
	// ConsoleClient names the attached console client (its pid), if any.
	ConsoleClient string `json:"console_client,omitempty"`
}

// States of Info.State.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StatePaused   = "paused"
	StateEnding   = "ending"
)

// DecodeRequest parses one request line (without its newline). Unknown
// fields, trailing data, a wrong version and unknown ops are errors.
func DecodeRequest(line []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("malformed request: %v", err)
	}
	if dec.More() {
		return Request{}, fmt.Errorf("malformed request: data after the JSON object")
	}
	if r.Version != Version {
		return Request{}, fmt.Errorf("protocol version %d is not supported (want %d)", r.Version, Version)
	}
	if r.Op != OpSnapshot && (r.Stop || r.RAMFile != "") {
		return Request{}, fmt.Errorf("op %.32q takes no stop or ram_file", r.Op)
	}
	switch r.Op {
	case OpInfo, OpPause, OpResume, OpDump, OpStop, OpWait, OpConsole, OpSnapshot:
		if r.Key != "" {
			return Request{}, fmt.Errorf("op %q takes no key", r.Op)
		}
		if r.Op == OpSnapshot {
			if err := CheckRAMFileName(r.RAMFile); err != nil {
				return Request{}, err
			}
		}
	case OpSysRq:
		if _, err := SysRqKey(r.Key); err != nil {
			return Request{}, err
		}
	case "":
		return Request{}, fmt.Errorf("the request names no op")
	default:
		return Request{}, fmt.Errorf("unknown op %.32q", r.Op)
	}
	return r, nil
}

// SysRqKey checks a SysRq key: one printable ASCII character, not a space.
func SysRqKey(key string) (byte, error) {
	if len(key) != 1 || key[0] <= ' ' || key[0] > '~' {
		return 0, fmt.Errorf("sysrq key %.8q: want one printable ASCII character", key)
	}
	return key[0], nil
}

// encodeLine is v as one JSON line.
func encodeLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Requests and responses are plain structs: this cannot fail.
		panic(fmt.Sprintf("control: encoding %T: %v", v, err))
	}
	return append(b, '\n')
}

func errorResponse(err error) Response {
	return Response{Version: Version, Error: err.Error()}
}

func okResponse() Response { return Response{Version: Version, OK: true} }
