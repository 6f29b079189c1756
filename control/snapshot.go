package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A snapshot is saved to files the client creates: the VM runs under a
// seccomp filter that opens nothing for writing. The client sends the
// request; the server answers with SendFiles; the client then sends one
// byte carrying two descriptors (SCM_RIGHTS), the state file's and the
// RAM file's; the server saves the VM to them, closes them and answers.

// ErrCannotSave says a VM has a part that cannot be saved (a device with
// no saved state): a VM's Snapshot returns an error that is it (through
// CannotSave), and so does a Client's, so that gokvm snapshot can tell it
// from a save that failed.
var ErrCannotSave = errors.New("the VM cannot be saved")

// CannotSave is err, saying what cannot be saved, as an error that is
// also ErrCannotSave.
func CannotSave(err error) error { return cannotSaveError{err} }

type cannotSaveError struct{ err error }

func (e cannotSaveError) Error() string        { return e.err.Error() }
func (e cannotSaveError) Unwrap() error        { return e.err }
func (e cannotSaveError) Is(target error) bool { return target == ErrCannotSave }

// CheckRAMFileName accepts a RAM file's name as a state file records it:
// a name in the state file's directory, not a path.
func CheckRAMFileName(name string) error {
	switch {
	case name == "":
		return errors.New("a snapshot needs its RAM file's name (ram_file)")
	case len(name) > 255:
		return fmt.Errorf("ram_file %.32q...: longer than a file name (255 bytes)", name)
	case name == "." || name == "..":
		return fmt.Errorf("ram_file %q is not a file name", name)
	}
	for _, c := range []byte(name) {
		if c == '/' || c == 0 {
			return fmt.Errorf("ram_file %.64q: a name beside the state file, without '/' or NUL", name)
		}
	}
	return nil
}

// filesTimeout bounds the wait for a snapshot's descriptors once they
// are asked for (a variable for the tests).
var filesTimeout = 10 * time.Second

// maxPassedFDs is room for more descriptors than a snapshot takes, so
// that a client that sends too many is told how many; the kernel closes
// any beyond.
const maxPassedFDs = 8

// errClientLeft is a client that went before sending the files.
var errClientLeft = errors.New("the client left before sending the files")

// serveSnapshot answers a snapshot request: it asks for the files, saves
// the VM to them and answers; with Stop, once the VM has ended, as stop
// is. It reports whether the connection goes on.
func (s *Server) serveSnapshot(c *net.UnixConn, r *bufio.Reader, req Request) bool {
	vm, err := s.startSaving()
	if err != nil {
		return writeResponse(c, errorResponse(err))
	}
	// Released before the answer, so that a client that has its answer
	// finds the VM free.
	release := sync.OnceFunc(s.doneSaving)
	defer release()
	// The descriptors must reach ReadMsgUnix: bytes the line reader took
	// ahead of them would have lost them (a read without room for control
	// messages closes the descriptors it meets).
	if r.Buffered() > 0 {
		writeResponse(c, errorResponse(errors.New("data after the snapshot request: send the files only once asked")))
		return false
	}
	if !writeResponse(c, Response{Version: Version, OK: true, SendFiles: true}) {
		return false
	}
	files, err := receiveFiles(c, req.RAMFile)
	switch {
	case errors.Is(err, errClientLeft):
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeResponse(c, errorResponse(fmt.Errorf("no files within %v of asking for them", filesTimeout)))
		return false
	case err != nil:
		release()
		return writeResponse(c, errorResponse(err))
	}
	err = vm.Snapshot(files[0], files[1], req.RAMFile, req.Stop)
	files[0].Close()
	files[1].Close()
	if err != nil {
		resp := errorResponse(err)
		resp.CannotSave = errors.Is(err, ErrCannotSave)
		release()
		return writeResponse(c, resp)
	}
	if !req.Stop {
		release()
		return writeResponse(c, okResponse())
	}
	// Saved and left paused: now stopped as the stop op does, and
	// answered as it is, once the VM has ended.
	vm.Stop()
	s.answerWhenEnded(c)
	return false
}

// startSaving takes the VM for a snapshot: one at a time, and pause and
// resume are refused until it is done (Handle).
func (s *Server) startSaving() (VM, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vm == nil {
		return nil, errors.New("the VM is starting")
	}
	select {
	case <-s.done:
		return nil, errors.New("the VM has ended")
	default:
	}
	if s.saving {
		return nil, errSaving
	}
	s.saving = true
	return s.vm, nil
}

func (s *Server) doneSaving() {
	s.mu.Lock()
	s.saving = false
	s.mu.Unlock()
}

var errSaving = errors.New("a snapshot of the VM is being saved; try again once it is done")

// receiveFiles reads the message that carries a snapshot's descriptors
// and checks them: exactly two, each a regular file open for writing
// (and not for appending, which would put WriteAt's data at the end),
// and not the same file. Whatever it refuses it closes.
func receiveFiles(c *net.UnixConn, ramName string) ([2]*os.File, error) {
	c.SetReadDeadline(time.Now().Add(filesTimeout))
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(maxPassedFDs*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(b[:], oob)
	fds, perr := unixRights(oob[:oobn])
	refuse := func(err error) ([2]*os.File, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return [2]*os.File{}, err
	}
	switch {
	case errors.Is(err, io.EOF), err == nil && n == 0 && len(fds) == 0:
		return refuse(errClientLeft)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return refuse(err)
	case err != nil:
		return refuse(fmt.Errorf("reading the files: %w", err))
	case perr != nil:
		return refuse(perr)
	case flags&unix.MSG_CTRUNC != 0:
		return refuse(fmt.Errorf("more than %d descriptors were sent; want 2, the state file and the RAM file", maxPassedFDs))
	case len(fds) != 2:
		return refuse(fmt.Errorf("%d descriptors were sent; want 2, the state file and the RAM file", len(fds)))
	}
	names := [2]string{"the state file", "the RAM file"}
	var st [2]unix.Stat_t
	for i, fd := range fds {
		if err := checkOutputFile(fd, &st[i]); err != nil {
			return refuse(fmt.Errorf("%s: %w", names[i], err))
		}
	}
	if st[0].Dev == st[1].Dev && st[0].Ino == st[1].Ino {
		return refuse(errors.New("the state file and the RAM file are one file"))
	}
	return [2]*os.File{os.NewFile(uintptr(fds[0]), names[0]), os.NewFile(uintptr(fds[1]), ramName)}, nil
}

// unixRights are the descriptors of a message's SCM_RIGHTS.
func unixRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("the files' message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		more, err := unix.ParseUnixRights(&m)
		if err != nil {
			return fds, fmt.Errorf("the files' message: %w", err)
		}
		fds = append(fds, more...)
	}
	return fds, nil
}

// fileTypes name what a descriptor that is not a regular file is.
var fileTypes = map[uint32]string{
	unix.S_IFDIR: "a directory", unix.S_IFCHR: "a character device", unix.S_IFBLK: "a block device",
	unix.S_IFIFO: "a pipe", unix.S_IFSOCK: "a socket", unix.S_IFLNK: "a symbolic link", 0: "an anonymous inode",
}

// checkOutputFile accepts a regular file open for writing, not appending.
func checkOutputFile(fd int, st *unix.Stat_t) error {
	if err := unix.Fstat(fd, st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG {
		return fmt.Errorf("not a regular file but %s", fileTypes[t])
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("F_GETFL: %w", err)
	}
	if acc := fl & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
		return errors.New("not open for writing")
	}
	if fl&unix.O_APPEND != 0 {
		return errors.New("open for appending (O_APPEND): the RAM file is written at offsets")
	}
	return nil
}
