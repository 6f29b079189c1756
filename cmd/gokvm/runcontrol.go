package main

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/gokvm/gokvm/control"
	"github.com/gokvm/gokvm/machine"
	"github.com/gokvm/gokvm/vmm/seccomp"
)

// runControl is what gokvm run --name adds around a run: the control
// socket, and for a detached VM the console hub that is the guest's
// console and the pipe that tells the starting gokvm the guest runs.
type runControl struct {
	server *control.Server
	hub    *control.Hub // detached only
	// logOut is where gokvm's log goes: stderr, and once a detached
	// guest runs, its console.
	logOut *switchWriter
	ready  *os.File // detached only: closed once the first vcpu runs
	// gate keeps the machine open while a snapshot saves it.
	gate saveGate
}

// startControl listens on the VM's control socket when the run has a
// name (nil when not). A detached child's console becomes the hub:
// env's Stdin and Stdout are replaced. The server logs what it refuses
// to logger.
func startControl(o *runOptions, start time.Time, env *Env, logger *log.Logger) (*runControl, error) {
	if o.name == "" {
		return nil, nil
	}
	c := &runControl{logOut: &switchWriter{w: env.Stderr}}
	detached := isDetachedChild()
	if detached {
		c.ready = os.NewFile(readyFD, "ready")
		if c.ready == nil {
			return nil, errors.New("a detached gokvm needs its ready pipe (descriptor 3)")
		}
		c.hub = control.NewHub()
		env.Stdin, env.Stdout = c.hub, c.hub
	}
	srv, err := control.Listen(control.Info{
		Name: o.name, PID: os.Getpid(), Started: start,
		VCPUs: o.spec.CPUs, Memory: o.spec.Memory, Kernel: cmp.Or(o.spec.Kernel, o.spec.Firmware), Detached: detached,
	}, c.hub)
	if err != nil {
		return nil, err
	}
	c.server = srv
	srv.SetLogger(logger)
	srv.Serve()
	return c, nil
}

// controlErrorStatus is run's status for a control socket that could not
// be made: a name in use or a bad one is a usage error.
func controlErrorStatus(err error) int {
	if errors.Is(err, control.ErrNameInUse) || errors.Is(err, control.ErrBadName) {
		return machine.ExitUsage
	}
	return machine.ExitFailure
}

// systemCalls are the calls the control socket makes while the guest
// runs, for the seccomp filter.
func (c *runControl) systemCalls() []seccomp.Call {
	if c == nil {
		return nil
	}
	return control.SystemCalls
}

// running hands the built machine to the control socket and, detached,
// watches for the guest's first vcpu to enter the guest: then the log
// moves to the guest's console and the starting gokvm is told.
func (c *runControl) running(ctx context.Context, m *machine.Machine, stop func(), guestOut io.Writer, logger *log.Logger) {
	if c == nil {
		return
	}
	c.server.SetVM(controlledVM{Machine: m, stop: stop, log: logger, gate: &c.gate})
	if c.ready == nil {
		return
	}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if m.Started() {
				c.logOut.set(crlfWriter{guestOut})
				c.ready.Write([]byte(readyWord))
				c.ready.Close()
				return
			}
		}
	}()
}

// finish answers wait and stop with the run's status and removes the
// socket; the hub's input ends.
func (c *runControl) finish(status int, outcome string) {
	c.server.Finish(status, outcome)
	if c.hub != nil {
		c.hub.Close()
	}
}

// ended is called when the run has ended, before the machine is closed:
// it waits for a snapshot being saved.
func (c *runControl) ended() {
	if c != nil {
		c.gate.close()
	}
}

// controlledVM is the machine as the control socket drives it.
type controlledVM struct {
	*machine.Machine
	stop func()
	log  *log.Logger
	gate *saveGate
}

func (v controlledVM) Stop() {
	v.log.Print("stop from the control socket: stopping the guest")
	v.stop()
}

// switchWriter writes to one writer, and from set on to another.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// crlfWriter ends lines with CR LF, as a terminal in raw mode (an
// attached console) needs them.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+8)
	for _, b := range p {
		if b == '\n' {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
