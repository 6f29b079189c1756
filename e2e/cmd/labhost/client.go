package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gokvm/gokvm/e2e/lab"
	"golang.org/x/sys/unix"
)

func dial(dir string, timeout time.Duration) (net.Conn, error) {
	b, err := os.ReadFile(filepath.Join(dir, "port"))
	if err != nil {
		return nil, fmt.Errorf("no emulated host started from %s (labhost start): %w", dir, err)
	}
	return net.DialTimeout("tcp", "127.0.0.1:"+strings.TrimSpace(string(b)), timeout)
}

// request sends req with in as the command's input (nil: none) and returns
// the exit status. Output goes to this process's stdout and stderr.
// timeout bounds the connection and the request; 0 lets a command run as
// long as it does (gokvm console).
func request(dir string, req lab.Request, in io.Reader, timeout time.Duration) (status int, answered bool, err error) {
	dialTimeout := 10 * time.Second
	if timeout > 0 && timeout < dialTimeout {
		dialTimeout = timeout
	}
	c, err := dial(dir, dialTimeout)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	if timeout > 0 {
		c.SetDeadline(time.Now().Add(timeout))
	}
	if err := lab.WriteRequest(c, req); err != nil {
		return 0, false, err
	}
	fw := lab.NewFrameWriter(c)
	go func() {
		sw := lab.StdinWriter{F: fw}
		if in != nil {
			if _, err := io.Copy(sw, in); err != nil {
				return // the connection broke: the reader below says so
			}
		}
		sw.Close()
	}()
	br := bufio.NewReader(c)
	for {
		typ, data, err := lab.ReadFrame(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the agent closed the connection without an exit status")
			}
			return 0, false, err
		}
		switch typ {
		case lab.FrameStdout:
			os.Stdout.Write(data)
		case lab.FrameStderr:
			os.Stderr.Write(data)
		case lab.FrameExit:
			s, err := lab.ExitStatus(data)
			return s, true, err
		case lab.FrameError:
			return 0, false, fmt.Errorf("agent: %s", data)
		default:
			return 0, false, fmt.Errorf("unexpected frame %q from the agent", typ)
		}
	}
}

func ping(dir string, timeout time.Duration) error {
	s, _, err := request(dir, lab.Request{Op: "ping"}, nil, timeout)
	if err == nil && s != 0 {
		err = fmt.Errorf("ping: status %d", s)
	}
	return err
}

// execRemote is labhost exec: the command runs in the emulated host with
// this process's input; on a terminal (LAVA's connection is a pty) the
// terminal is raw, so the guest, not this side, echoes and edits lines.
func execRemote(dir string, argv []string) int {
	var in io.Reader = os.Stdin
	if restore, ok := makeRaw(int(os.Stdin.Fd())); ok {
		defer restore()
	}
	status, _, err := request(dir, lab.Request{Op: "exec", Argv: argv}, in, 0)
	if err != nil {
		return fail("exec %s: %v", argv[0], err)
	}
	return status
}

func putRemote(dir, src, dst string) int {
	f, err := os.Open(src)
	if err != nil {
		return fail("put: %v", err)
	}
	defer f.Close()
	status, _, err := request(dir, lab.Request{Op: "put", Path: dst}, f, 10*time.Minute)
	if err != nil {
		return fail("put %s %s: %v", src, dst, err)
	}
	return status
}

// makeRaw puts a terminal in raw mode (cfmakeraw) and returns how to undo
// it; ok is false when fd is no terminal.
func makeRaw(fd int) (restore func(), ok bool) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false
	}
	t := *old
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, false
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, true
}
