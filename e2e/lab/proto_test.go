package lab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	big := bytes.Repeat([]byte("x"), MaxFrame+10)
	if err := fw.Write(FrameStdout, big); err != nil {
		t.Fatal(err)
	}
	if err := fw.Exit(-3); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		typ, data, err := ReadFrame(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if typ == FrameExit {
			s, err := ExitStatus(data)
			if err != nil || s != -3 {
				t.Fatalf("exit status %d, %v; want -3", s, err)
			}
			break
		}
		if typ != FrameStdout || len(data) > MaxFrame {
			t.Fatalf("frame %q of %d bytes", typ, len(data))
		}
		got = append(got, data...)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("got %d bytes back, want %d", len(got), len(big))
	}
}

func TestReadFrameRefusesOversize(t *testing.T) {
	hdr := []byte{FrameStdin, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], MaxFrame+1)
	if _, _, err := ReadFrame(bytes.NewReader(hdr)); err == nil {
		t.Fatal("a frame above MaxFrame was accepted")
	}
	if _, _, err := ReadFrame(bytes.NewReader([]byte{FrameStdin, 0, 0, 0, 9, 'a'})); err == nil {
		t.Fatal("a cut frame was accepted")
	}
}

func TestCopyStdin(t *testing.T) {
	var buf bytes.Buffer
	sw := StdinWriter{F: NewFrameWriter(&buf)}
	io.WriteString(sw, "hello ")
	io.WriteString(sw, "world")
	sw.Close()
	var out bytes.Buffer
	if err := CopyStdin(&out, &buf); err != nil || out.String() != "hello world" {
		t.Fatalf("CopyStdin: %q, %v", out.String(), err)
	}
	// Input that stops without the end frame: the client went away.
	var cut bytes.Buffer
	StdinWriter{F: NewFrameWriter(&cut)}.Write([]byte("x"))
	if err := CopyStdin(io.Discard, &cut); err == nil {
		t.Fatal("input without its end frame ended cleanly")
	}
	if err := CopyStdin(io.Discard, bytes.NewReader([]byte{FrameStdout, 0, 0, 0, 0})); err == nil {
		t.Fatal("a stdout frame from the client was accepted")
	}
}

func TestRequests(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRequest(&buf, Request{Op: "exec", Argv: []string{"gokvm", "console", "a b"}}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadRequest(bufio.NewReader(&buf))
	if err != nil || r.Op != "exec" || len(r.Argv) != 3 || r.Argv[2] != "a b" {
		t.Fatalf("got %+v, %v", r, err)
	}
	long := `{"op":"` + strings.Repeat("x", MaxRequest) + `"}` + "\n"
	if _, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(long), 16)); err == nil {
		t.Fatal("an overlong request was accepted")
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader("not json\n"))); err == nil {
		t.Fatal("a malformed request was accepted")
	}
}
