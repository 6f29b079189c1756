package control

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokvm/gokvm/internal/accept"
)

// Timeouts and bounds of a server: a slow, stalled or dead client costs
// the VM a goroutine and a descriptor for a bounded time, never a vcpu.
const (
	// idleTimeout is how long a connection may wait between requests.
	idleTimeout = 60 * time.Second
	// writeTimeout bounds one answer (or console chunk) to a client.
	writeTimeout = 5 * time.Second
	// maxConns bounds the connections served at once; more are refused.
	maxConns = 16
	// finishWait is how long Finish gives the last answers to go out.
	finishWait = 2 * time.Second
)

// VM is what a server controls: machine.Machine and its run, seen
// through what the protocol needs.
type VM interface {
	Pause() error
	Resume() error
	Paused() bool
	// DumpVcpus writes a heading and one line per vcpu.
	DumpVcpus(w io.Writer)
	// SysRq sends a break and then key on the guest's console.
	SysRq(key byte) error
	// Stop ends the run as SIGTERM does; the owner of the run then calls
	// Finish with the exit status.
	Stop()
	// Snapshot saves the VM to state (the state file) and ram (guest
	// RAM; ramName is its name as the state file records it), pausing it
	// for that. It resumes afterwards unless stop, in which case a saved
	// VM stays paused and the server then calls Stop; a VM that could not
	// be saved is left as it was. An error that is ErrCannotSave says the
	// VM has a part that cannot be saved. The files are the caller's to
	// close.
	Snapshot(state, ram *os.File, ramName string, stop bool) error
}

// Server serves one VM's control socket.
type Server struct {
	path    string
	ln      unixListener
	console *Hub
	// uid is this process's effective uid, the one a client must have
	// (or root): read at Listen, as the run phase's filter has no
	// geteuid.
	uid uint32
	// peerCred reads a client's credentials; tests make up strangers.
	peerCred func(*net.UnixConn) (*unix.Ucred, error)
	log      *log.Logger

	mu     sync.Mutex
	info   Info
	vm     VM
	conns  map[net.Conn]struct{}
	result Response // the answer to wait and stop, once done is closed
	// saving is set while a snapshot is saved (snapshot.go).
	saving bool
	// waiting counts the clients waiting for the VM to end (wait, stop).
	waiting int

	slots    chan struct{}
	done     chan struct{} // closed by Finish
	finished sync.Once
	wg       sync.WaitGroup // connection goroutines
}

// unixListener is what a server accepts from: its socket, or in tests
// one that fails on purpose.
type unixListener interface {
	AcceptUnix() (*net.UnixConn, error)
	Close() error
}

// Listen creates the control socket of the VM named info.Name in the
// state directory (made 0700 if need be) with mode 0600. A socket left by
// a VM that is gone is removed; a live VM with the name is ErrNameInUse.
// console is a detached VM's console, or nil for a VM whose console is
// its own terminal. The server answers once Serve is called; until SetVM,
// it says the VM is starting.
func Listen(info Info, console *Hub) (*Server, error) {
	path, err := SocketPath(info.Name)
	if err != nil {
		return nil, err
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	// The directory's lock makes the check and the bind one step for two
	// gokvms starting with the same name.
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The directory already keeps others out; the socket's mode says so
	// again.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &Server{
		path: path, ln: ln, console: console, info: info,
		uid: uint32(os.Geteuid()), peerCred: peerCred, log: log.Default(),
		conns: map[net.Conn]struct{}{},
		slots: make(chan struct{}, maxConns),
		done:  make(chan struct{}),
	}, nil
}

// lockDir takes an exclusive flock on the state directory.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("the state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the state directory: %w", err)
	}
	return func() { f.Close() }, nil
}

// clearStale removes a socket at path that no VM listens on, and fails
// with ErrNameInUse when one does.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s answers (gokvm list)", ErrNameInUse, path)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale control socket: %w", err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// SetLogger sets where the server says what it refused (a client of
// another user) and that accepts fail; the standard logger until then,
// or when l is nil. Call it before Serve.
func (s *Server) SetLogger(l *log.Logger) {
	if l == nil {
		l = log.Default()
	}
	s.log = l
}

// Serve accepts connections in the background until Finish.
func (s *Server) Serve() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
}

// SetVM gives the server the VM once it is built.
func (s *Server) SetVM(vm VM) {
	s.mu.Lock()
	s.vm = vm
	s.mu.Unlock()
}

// Finish ends the server when the VM has ended: every wait and stop is
// answered with status and outcome, the console stream gets the last
// output, and the socket is removed. It waits a bounded time for the
// answers to go out.
func (s *Server) Finish(status int, outcome string) {
	s.finished.Do(func() {
		s.mu.Lock()
		st := status
		s.result = Response{Version: Version, OK: true, Status: &st, Outcome: outcome}
		s.mu.Unlock()
		// The socket goes first (Close removes it), so that nobody
		// answered below finds the VM still there.
		s.ln.Close()
		close(s.done)
		// Connections waiting for a request will not get one: wake them.
		s.mu.Lock()
		for c := range s.conns {
			c.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
		ch := make(chan struct{})
		go func() { s.wg.Wait(); close(ch) }()
		t := time.NewTimer(finishWait)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
}

// acceptLoop serves each connection on a goroutine of its own until
// Finish; a failed accept (out of descriptors, say) is waited out and
// tried again, never the end of the socket.
func (s *Server) acceptLoop() {
	logf := func(format string, args ...any) {
		s.log.Printf("control socket of %s: "+format, append([]any{s.info.Name}, args...)...)
	}
	accept.Loop(s.ln.AcceptUnix, s.done, logf, s.take)
}

// take starts serving an accepted connection: one of another user is
// closed, one beyond maxConns refused.
func (s *Server) take(c *net.UnixConn) {
	cred, ok := s.admit(c)
	if !ok {
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			writeResponse(c, errorResponse(fmt.Errorf("too many control connections (%d)", maxConns)))
			c.Close()
		}()
		return
	}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		s.serveConn(c, peerName(cred))
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
}

// admit checks who connected before anything is read or written: a
// process of another user (or one that cannot be told) is closed
// unanswered, and logged.
func (s *Server) admit(c *net.UnixConn) (*unix.Ucred, bool) {
	cred, err := s.peerCred(c)
	if err == nil {
		err = checkPeerUID(cred.Uid, s.uid)
	}
	if err != nil {
		s.log.Printf("control socket of %s: refused a connection from %s: %v", s.info.Name, peerName(cred), err)
		c.Close()
		return nil, false
	}
	return cred, true
}

// serveConn answers one connection's requests in order; client names
// the process at the other end.
func (s *Server) serveConn(c *net.UnixConn, client string) {
	r := bufio.NewReaderSize(c, MaxLine)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			writeResponse(c, errorResponse(fmt.Errorf("request longer than %d bytes", MaxLine)))
			return
		}
		if err != nil && len(bytes.TrimSpace(line)) == 0 {
			return
		}
		last := err != nil // a final line without its newline
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // a blank line between requests
		}
		req, derr := DecodeRequest(line)
		if derr != nil {
			if !writeResponse(c, errorResponse(derr)) || last {
				return
			}
			continue
		}
		switch req.Op {
		case OpConsole:
			s.serveConsole(c, r, client)
			return
		case OpSnapshot:
			if !s.serveSnapshot(c, r, req) || last {
				return
			}
			continue
		case OpStop, OpWait:
			if req.Op == OpStop {
				vm := s.getVM()
				if vm == nil {
					if !writeResponse(c, errorResponse(errors.New("the VM is starting; stop it once it runs"))) {
						return
					}
					continue
				}
				vm.Stop()
			}
			s.answerWhenEnded(c)
			return
		}
		if !writeResponse(c, s.Handle(req)) || last {
			return
		}
	}
}

func (s *Server) getVM() VM {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vm
}

// Info describes the VM now.
func (s *Server) Info() Info {
	s.mu.Lock()
	info, vm := s.info, s.vm
	s.mu.Unlock()
	select {
	case <-s.done:
		info.State = StateEnding
	default:
		switch {
		case vm == nil:
			info.State = StateStarting
		case vm.Paused():
			info.State = StatePaused
		default:
			info.State = StateRunning
		}
	}
	if !info.Started.IsZero() {
		info.UptimeSeconds = time.Since(info.Started).Round(time.Millisecond).Seconds()
	}
	if s.console != nil {
		info.ConsoleClient = s.console.attacher()
	}
	return info
}

// Handle answers a request that is answered at once (not stop, wait,
// console or snapshot, which take the connection).
func (s *Server) Handle(req Request) Response {
	if req.Op == OpInfo {
		info := s.Info()
		return Response{Version: Version, OK: true, Info: &info}
	}
	s.mu.Lock()
	vm, saving := s.vm, s.saving
	s.mu.Unlock()
	if vm == nil {
		return errorResponse(errors.New("the VM is starting"))
	}
	select {
	case <-s.done:
		return errorResponse(errors.New("the VM has ended"))
	default:
	}
	if saving && (req.Op == OpPause || req.Op == OpResume) {
		// The snapshot paused the VM and resumes it (or not, with
		// stop) when it is done: a resume now would let the guest run
		// while its state is read.
		return errorResponse(errSaving)
	}
	switch req.Op {
	case OpPause:
		if err := vm.Pause(); err != nil {
			return errorResponse(err)
		}
	case OpResume:
		if err := vm.Resume(); err != nil {
			return errorResponse(err)
		}
	case OpDump:
		var b strings.Builder
		vm.DumpVcpus(&b)
		return Response{Version: Version, OK: true, Dump: b.String()}
	case OpSysRq:
		key, err := SysRqKey(req.Key)
		if err != nil {
			return errorResponse(err)
		}
		if err := vm.SysRq(key); err != nil {
			return errorResponse(fmt.Errorf("sysrq: %w", err))
		}
	default:
		return errorResponse(fmt.Errorf("op %q is not answered here", req.Op))
	}
	return okResponse()
}

// serveConsole makes the connection the console stream: the ring's
// contents and then live output go to the client, what it sends goes to
// the guest, until either side ends.
func (s *Server) serveConsole(c *net.UnixConn, r *bufio.Reader, client string) {
	if s.console == nil {
		writeResponse(c, errorResponse(fmt.Errorf("VM %s runs in the foreground: its console is the terminal of its gokvm run", s.info.Name)))
		return
	}
	a := newAttachment(client)
	if busy := s.console.attach(a); busy != "" {
		writeResponse(c, errorResponse(fmt.Errorf("the console of %s is in use by %s: one attached client at a time", s.info.Name, busy)))
		return
	}
	defer s.console.detach(a)
	if !writeResponse(c, okResponse()) {
		return
	}
	ended := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for {
			select {
			case <-a.ready:
				if !s.flushConsole(c, a) {
					// A client that cannot keep up within the deadline
					// is dropped, not waited for.
					c.Close()
					return
				}
			case <-ended:
				select {
				case <-s.done: // the VM's last words
					s.flushConsole(c, a)
				default:
				}
				return
			case <-s.done:
				s.flushConsole(c, a)
				return
			}
		}
	}()
	c.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 && !s.console.input(bytes.Clone(buf[:n]), s.done, func() bool { return clientLeft(c) }) {
			break
		}
		if err != nil {
			break
		}
	}
	close(ended)
	<-writerDone
}

// flushConsole sends what is pending for the attacher; false when the
// client could not take it in time.
func (s *Server) flushConsole(c net.Conn, a *attachment) bool {
	b, dropped := a.take()
	if dropped > 0 {
		b = fmt.Appendf(b, "\r\n[gokvm: %d bytes of console output dropped: the client was too slow]\r\n", dropped)
	}
	if len(b) == 0 {
		return true
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Write(b)
	return err == nil
}

// writeResponse sends one answer line within writeTimeout.
func writeResponse(c net.Conn, r Response) bool {
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Write(encodeLine(r))
	return err == nil
}

// Waiting is how many clients wait for the VM to end (gokvm wait, and
// gokvm stop until the VM stopped): a caller that must not end the VM
// before a waiter is there (a test) can tell.
func (s *Server) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// answerWhenEnded waits for the VM to end and answers c with how it
// ended, as a stop does.
func (s *Server) answerWhenEnded(c net.Conn) {
	s.mu.Lock()
	s.waiting++
	s.mu.Unlock()
	<-s.done
	s.mu.Lock()
	res := s.result
	s.mu.Unlock()
	writeResponse(c, res)
}
