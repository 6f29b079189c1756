package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// answerTimeout bounds the wait for an answer that comes at once (not
// wait or stop).
const answerTimeout = 10 * time.Second

// Client is a connection to one VM's control socket. Its methods are not
// for concurrent use; Console, Wait and Stop end its use for requests.
type Client struct {
	name string
	conn *net.UnixConn
	r    *bufio.Reader
}

// Dial connects to the VM named name. A name no VM has is ErrNoVM; a
// socket left by a VM that is gone is removed on the way.
func Dial(name string) (*Client, error) {
	path, err := SocketPath(name)
	if err != nil {
		return nil, err
	}
	c, err := DialPath(path)
	if err != nil {
		return nil, err
	}
	c.name = name
	return c, nil
}

// DialPath connects to the control socket at path.
func DialPath(path string) (*Client, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w (%s)", ErrNoVM, path)
		case errors.Is(err, unix.ECONNREFUSED):
			// Nobody listens: the VM died without removing it, or one
			// is between bind and listen, which it does under the
			// directory's lock: look again under the lock.
			if unlock, lerr := lockDir(filepath.Dir(path)); lerr == nil {
				conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
				if errors.Is(err, unix.ECONNREFUSED) {
					os.Remove(path)
				}
				unlock()
			}
			if err == nil {
				break
			}
			return nil, fmt.Errorf("%w (%s was left by a VM that is gone; removed)", ErrNoVM, path)
		default:
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	cred, err := peerCred(conn)
	if err == nil {
		err = checkServer(cred, uint32(os.Geteuid()))
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Client{name: path, conn: conn, r: bufio.NewReader(conn)}, nil
}

// checkServer refuses a server that runs as neither this user (own) nor
// root: a socket put in the client's way by someone else would get what
// the client types into a console and could answer it lies.
func checkServer(cred *unix.Ucred, own uint32) error {
	if err := checkPeerUID(cred.Uid, own); err != nil {
		return fmt.Errorf("refused: its server (pid %d) is %w", cred.Pid, err)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends one request and reads its answer, waiting at most timeout (no
// limit when 0). An answer with OK false is returned with its error.
func (c *Client) Do(req Request, timeout time.Duration) (Response, error) {
	req.Version = Version
	deadline := time.Time{}
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	c.conn.SetDeadline(deadline)
	if _, err := c.conn.Write(encodeLine(req)); err != nil {
		return Response{}, fmt.Errorf("%s: sending %s: %w", c.name, req.Op, err)
	}
	return c.answer(req.Op)
}

// answer reads the answer to op, within the connection's deadline.
func (c *Client) answer(op string) (Response, error) {
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Response{}, fmt.Errorf("%s: the VM closed the connection without answering %s", c.name, op)
		}
		return Response{}, fmt.Errorf("%s: reading the answer to %s: %w", c.name, op, err)
	}
	c.conn.SetDeadline(time.Time{})
	resp, err := DecodeResponse(line)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", c.name, err)
	}
	if !resp.OK {
		err := fmt.Errorf("%s: %s", c.name, resp.Error)
		if resp.CannotSave {
			err = CannotSave(err)
		}
		return resp, err
	}
	return resp, nil
}

// Info describes the VM.
func (c *Client) Info() (Info, error) {
	resp, err := c.Do(Request{Op: OpInfo}, answerTimeout)
	if err != nil {
		return Info{}, err
	}
	if resp.Info == nil {
		return Info{}, fmt.Errorf("%s: the answer to info has no info", c.name)
	}
	return *resp.Info, nil
}

// Pause stops the VM's vcpus where they are.
func (c *Client) Pause() error {
	_, err := c.Do(Request{Op: OpPause}, answerTimeout)
	return err
}

// Resume lets a paused VM go on.
func (c *Client) Resume() error {
	_, err := c.Do(Request{Op: OpResume}, answerTimeout)
	return err
}

// DumpVcpus describes each vcpu's state, as SIGUSR1 does.
func (c *Client) DumpVcpus() (string, error) {
	resp, err := c.Do(Request{Op: OpDump}, answerTimeout)
	return resp.Dump, err
}

// SysRq sends a magic SysRq key through the guest's console.
func (c *Client) SysRq(key byte) error {
	if _, err := SysRqKey(string(key)); err != nil {
		return err
	}
	_, err := c.Do(Request{Op: OpSysRq, Key: string(key)}, answerTimeout)
	return err
}

// Result is how a VM ended: gokvm run's exit status and its outcome.
type Result struct {
	Status  int
	Outcome string
}

// Wait waits for the VM to end.
func (c *Client) Wait() (Result, error) { return c.end(OpWait) }

// Stop stops the VM as SIGTERM does (its disks flushed, its taps removed)
// and returns once it has ended.
func (c *Client) Stop() (Result, error) { return c.end(OpStop) }

func (c *Client) end(op string) (Result, error) {
	resp, err := c.Do(Request{Op: op}, 0)
	if err != nil {
		return Result{}, err
	}
	if resp.Status == nil {
		return Result{}, fmt.Errorf("%s: the answer to %s has no status", c.name, op)
	}
	return Result{Status: *resp.Status, Outcome: resp.Outcome}, nil
}

// Snapshot saves the VM: its state to state and its RAM to ram, files
// this process created (the VM cannot), passed to it as descriptors; the
// state file records ramName as the RAM file's name, which must be its
// name beside the state file once they are in place. The VM is paused
// while it is saved and resumes afterwards, unless stop: then it is
// stopped as Stop does, and Snapshot returns once it has ended, with how
// (Result is zero without stop). An error that is ErrCannotSave says the
// VM has a part that cannot be saved.
func (c *Client) Snapshot(state, ram *os.File, ramName string, stop bool) (Result, error) {
	if err := CheckRAMFileName(ramName); err != nil {
		return Result{}, err
	}
	resp, err := c.Do(Request{Op: OpSnapshot, Stop: stop, RAMFile: ramName}, answerTimeout)
	if err != nil {
		return Result{}, err
	}
	if !resp.SendFiles {
		return Result{}, fmt.Errorf("%s: the answer to snapshot does not ask for the files", c.name)
	}
	// One byte carries both descriptors: a stream socket passes them
	// only with data.
	c.conn.SetDeadline(time.Now().Add(answerTimeout))
	_, _, err = c.conn.WriteMsgUnix([]byte{0}, unix.UnixRights(int(state.Fd()), int(ram.Fd())), nil)
	runtime.KeepAlive(state)
	runtime.KeepAlive(ram)
	if err != nil {
		return Result{}, fmt.Errorf("%s: passing the files: %w", c.name, err)
	}
	// Saving takes as long as writing the guest's RAM does, and with
	// stop the answer comes when the VM has ended: no time limit.
	c.conn.SetDeadline(time.Time{})
	resp, err = c.answer(OpSnapshot)
	if err != nil || !stop {
		return Result{}, err
	}
	if resp.Status == nil {
		return Result{}, fmt.Errorf("%s: the answer to snapshot --stop has no status", c.name)
	}
	return Result{Status: *resp.Status, Outcome: resp.Outcome}, nil
}

// Console attaches to the VM's console: what is read from the returned
// stream is the guest's output (first what it printed before, up to
// RingSize bytes), what is written is its input. Closing it detaches;
// the VM runs on.
func (c *Client) Console() (io.ReadWriteCloser, error) {
	if _, err := c.Do(Request{Op: OpConsole}, answerTimeout); err != nil {
		return nil, err
	}
	return &consoleStream{r: c.r, conn: c.conn}, nil
}

// consoleStream reads what the client's buffer already holds first.
type consoleStream struct {
	r    *bufio.Reader
	conn *net.UnixConn
}

func (s *consoleStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *consoleStream) Write(p []byte) (int, error) { return s.conn.Write(p) }
func (s *consoleStream) Close() error                { return s.conn.Close() }

// DecodeResponse parses one answer line.
func DecodeResponse(line []byte) (Response, error) {
	var r Response
	if err := json.Unmarshal(line, &r); err != nil {
		return Response{}, fmt.Errorf("malformed answer: %v", err)
	}
	if r.Version != Version {
		return Response{}, fmt.Errorf("answer of protocol version %d (want %d)", r.Version, Version)
	}
	return r, nil
}
