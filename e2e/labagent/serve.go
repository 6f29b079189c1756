package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gokvm/gokvm/e2e/lab"
)

// serve answers labhost's connections until a poweroff request.
func serve() error {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", lab.AgentPort))
	if err != nil {
		return err
	}
	fmt.Printf("LABAGENT-READY listening on port %d\n", lab.AgentPort)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				fmt.Printf("labagent: accept: %v\n", err)
				once.Do(func() { close(done) })
				return
			}
			go func() {
				if handle(c) {
					once.Do(func() { close(done) })
				}
			}()
		}
	}()
	<-done
	return nil
}

// handle serves one connection; it reports whether the host should power
// off.
func handle(c net.Conn) (poweroff bool) {
	defer c.Close()
	br := bufio.NewReader(c)
	fw := lab.NewFrameWriter(c)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	req, err := lab.ReadRequest(br)
	if err != nil {
		fw.Write(lab.FrameError, []byte(err.Error()))
		return false
	}
	c.SetReadDeadline(time.Time{})
	switch req.Op {
	case "ping":
		fw.Exit(0)
	case "poweroff":
		fmt.Println("labagent: poweroff requested")
		fw.Exit(0)
		return true
	case "put":
		if err := put(req.Path, br); err != nil {
			fmt.Printf("labagent: put %s: %v\n", req.Path, err)
			fw.Write(lab.FrameError, []byte(err.Error()))
			return false
		}
		fmt.Printf("labagent: put %s\n", req.Path)
		fw.Exit(0)
	case "exec":
		if len(req.Argv) == 0 {
			fw.Write(lab.FrameError, []byte("exec: no command"))
			return false
		}
		fmt.Printf("labagent: exec %s\n", strings.Join(req.Argv, " "))
		status, err := run(req.Argv, br, fw)
		if err != nil {
			fmt.Printf("labagent: exec %s: %v\n", req.Argv[0], err)
			fw.Write(lab.FrameError, []byte(err.Error()))
			return false
		}
		fmt.Printf("labagent: %s exited %d\n", req.Argv[0], status)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		fw.Exit(status)
	default:
		fw.Write(lab.FrameError, []byte(fmt.Sprintf("unknown op %q", req.Op)))
	}
	return false
}

// put writes the client's input to path (through a temporary file, so a
// cut transfer leaves no half file behind).
func put(path string, r io.Reader) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%q is not an absolute path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := lab.CopyStdin(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("receiving: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// run runs argv with the client's input and returns its exit status. A
// client that goes away ends the command (SIGTERM, then SIGKILL).
func run(argv []string, in io.Reader, fw *lab.FrameWriter) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	var copies sync.WaitGroup
	pump := func(typ byte, r *os.File) {
		defer copies.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if fw.Write(typ, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	copies.Add(2)
	go pump(lab.FrameStdout, outR)
	go pump(lab.FrameStderr, errR)
	exited := make(chan struct{})
	go func() {
		err := lab.CopyStdin(stdin, in)
		stdin.Close()
		if err == nil {
			return // the input ended; the command runs on
		}
		// The client went away: end the command (unless it has).
		select {
		case <-exited:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	werr := cmd.Wait()
	close(exited)
	// A background process the command left may hold the pipes: take what
	// is there and go on.
	waited := make(chan struct{})
	go func() { copies.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(2 * time.Second):
		outR.Close()
		errR.Close()
		// A pump may be stuck writing to a client that reads nothing:
		// handle's write deadline ends that.
		select {
		case <-waited:
		case <-time.After(2 * time.Second):
		}
	}
	outR.Close()
	errR.Close()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return 0, werr
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}
