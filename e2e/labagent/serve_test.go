package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gokvm/gokvm/e2e/lab"
)

// session runs handle on one end of a pipe and returns the other.
func session(t *testing.T, req lab.Request) (net.Conn, *bufio.Reader, chan bool) {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan bool, 1)
	go func() { done <- handle(server) }()
	client.SetDeadline(time.Now().Add(20 * time.Second))
	if err := lab.WriteRequest(client, req); err != nil {
		t.Fatal(err)
	}
	return client, bufio.NewReader(client), done
}

// collect reads frames to the end: stdout, stderr, the exit status (-1000
// when the agent answered with an error, whose message is in errMsg).
func collect(t *testing.T, r *bufio.Reader) (stdout, stderr string, status int, errMsg string) {
	t.Helper()
	for {
		typ, data, err := lab.ReadFrame(r)
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch typ {
		case lab.FrameStdout:
			stdout += string(data)
		case lab.FrameStderr:
			stderr += string(data)
		case lab.FrameExit:
			s, err := lab.ExitStatus(data)
			if err != nil {
				t.Fatal(err)
			}
			return stdout, stderr, s, ""
		case lab.FrameError:
			return stdout, stderr, -1000, string(data)
		default:
			t.Fatalf("frame %q", typ)
		}
	}
}

func TestExecStreamsAndStatus(t *testing.T) {
	c, r, _ := session(t, lab.Request{Op: "exec", Argv: []string{"sh", "-c", "read x; echo out $x; echo err >&2; exit 3"}})
	defer c.Close()
	sw := lab.StdinWriter{F: lab.NewFrameWriter(c)}
	go func() { sw.Write([]byte("hello\n")); sw.Close() }()
	out, errOut, status, _ := collect(t, r)
	if out != "out hello\n" || errOut != "err\n" || status != 3 {
		t.Fatalf("got stdout %q stderr %q status %d; want \"out hello\\n\" \"err\\n\" 3", out, errOut, status)
	}
}

// A background process that keeps the output pipes (as a detached gokvm
// could) does not hold the answer back.
func TestExecBackgroundChildDoesNotBlock(t *testing.T) {
	c, r, _ := session(t, lab.Request{Op: "exec", Argv: []string{"sh", "-c", "sleep 5 & echo started"}})
	defer c.Close()
	lab.StdinWriter{F: lab.NewFrameWriter(c)}.Close()
	start := time.Now()
	out, _, status, _ := collect(t, r)
	if out != "started\n" || status != 0 {
		t.Fatalf("got %q status %d", out, status)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("answered after %v", d)
	}
}

// A client that goes away ends its command (gokvm console when LAVA
// disconnects).
func TestExecEndsWhenClientGoes(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c, _, done := session(t, lab.Request{Op: "exec", Argv: []string{"sh", "-c", "echo $$ > " + pidFile + "; exec sleep 60"}})
	deadline := time.Now().Add(10 * time.Second)
	var pid int
	for pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 1 {
			for _, ch := range b[:len(b)-1] {
				pid = pid*10 + int(ch-'0')
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if pid == 0 {
		t.Fatal("the command did not start")
	}
	c.Close()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the agent still serves a connection whose client left")
	}
	if alive(pid) {
		t.Fatalf("the command (pid %d) still runs after its client left", pid)
	}
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscallZero{}) == nil
}

type syscallZero struct{}

func (syscallZero) Signal()        {}
func (syscallZero) String() string { return "0" }

func TestPut(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "a", "b", "kernel")
	c, r, _ := session(t, lab.Request{Op: "put", Path: dst})
	sw := lab.StdinWriter{F: lab.NewFrameWriter(c)}
	go func() { sw.Write([]byte("IMAGE")); sw.Close() }()
	if _, _, status, msg := collect(t, r); status != 0 {
		t.Fatalf("put: status %d %s", status, msg)
	}
	c.Close()
	if b, err := os.ReadFile(dst); err != nil || string(b) != "IMAGE" {
		t.Fatalf("%s: %q, %v", dst, b, err)
	}
	// A transfer cut short leaves nothing, and a relative path is refused.
	cut := filepath.Join(t.TempDir(), "cut")
	c, _, done := session(t, lab.Request{Op: "put", Path: cut})
	lab.StdinWriter{F: lab.NewFrameWriter(c)}.Write([]byte("half"))
	c.Close()
	<-done
	if _, err := os.Stat(cut); err == nil {
		t.Fatal("a cut transfer left a file")
	}
	if entries, _ := os.ReadDir(filepath.Dir(cut)); len(entries) != 0 {
		t.Fatalf("a cut transfer left %v", entries)
	}
	c, r, _ = session(t, lab.Request{Op: "put", Path: "rel/kernel"})
	defer c.Close()
	if _, _, status, msg := collect(t, r); status != -1000 || msg == "" {
		t.Fatalf("a relative path: status %d %q; want an error", status, msg)
	}
}

func TestUnknownOpAndMissingCommand(t *testing.T) {
	for _, req := range []lab.Request{{Op: "frobnicate"}, {Op: "exec"}, {Op: "exec", Argv: []string{"/no/such/program"}}} {
		c, r, _ := session(t, req)
		// The agent may answer without reading the input (net.Pipe has
		// no buffer where TCP has one).
		go lab.StdinWriter{F: lab.NewFrameWriter(c)}.Close()
		if _, _, status, msg := collect(t, r); status != -1000 || msg == "" {
			t.Errorf("%+v: status %d %q; want an error", req, status, msg)
		}
		c.Close()
	}
}
