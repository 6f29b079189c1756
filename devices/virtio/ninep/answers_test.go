package ninep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

type delivered struct {
	msg    []byte
	tag    uint16
	tooBig bool
}

func collector(out *[]delivered) *answers {
	return &answers{deliver: func(msg []byte, tag uint16, tooBig bool) error {
		*out = append(*out, delivered{append([]byte(nil), msg...), tag, tooBig})
		return nil
	}}
}

// TestAnswersAssemblePieces: answers written in any pieces (as p9 writes
// a header, a body and a payload separately, and a reader of a stream
// would cut them) are delivered whole, each once, in order.
func TestAnswersAssemblePieces(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i, n := range []int{0, 1, 100, 70000} {
		m := message(tRead+1, uint16(i+1), enc(bytes.Repeat([]byte{byte(i)}, n)))
		stream = append(stream, m...)
		want = append(want, m)
	}
	for _, cut := range []int{1, 2, 6, 7, 8, 4096, len(stream)} {
		var got []delivered
		a := collector(&got)
		for b := stream; len(b) > 0; {
			k := min(cut, len(b))
			if n, err := a.Write(b[:k]); n != k || err != nil {
				t.Fatalf("cut %d: Write = %d, %v", cut, n, err)
			}
			b = b[k:]
		}
		if len(got) != len(want) {
			t.Fatalf("cut %d: %d answers delivered, want %d", cut, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i].msg, want[i]) || got[i].tag != uint16(i+1) || got[i].tooBig {
				t.Errorf("cut %d: answer %d is %d bytes tag %d tooBig %v", cut, i, len(got[i].msg), got[i].tag, got[i].tooBig)
			}
		}
	}
}

// TestAnswersTooBig: an answer larger than MaxMsize is never held whole:
// it is dropped as it arrives and reported once for its tag, and the
// answers after it are whole.
func TestAnswersTooBig(t *testing.T) {
	var got []delivered
	a := collector(&got)
	big := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(big, MaxMsize+100)
	big[4] = tRead + 1
	binary.LittleEndian.PutUint16(big[5:], 42)
	a.Write(big)
	a.Write(make([]byte, MaxMsize+100-headerSize-1))
	if len(got) != 0 || len(a.buf) != 0 {
		t.Fatalf("before its last byte: %d delivered, %d bytes held", len(got), len(a.buf))
	}
	next := message(tGetattr+1, 43, enc([]byte("ok")))
	a.Write(append([]byte{0}, next...))
	if len(got) != 2 || !got[0].tooBig || got[0].tag != 42 || got[1].tag != 43 || !bytes.Equal(got[1].msg, next) {
		t.Fatalf("delivered %+v", got)
	}
}

// TestAnswersBadSize: a size below the header's is the server's bug: the
// write fails, nothing is delivered.
func TestAnswersBadSize(t *testing.T) {
	var got []delivered
	a := collector(&got)
	m := message(tRead+1, 1, nil)
	binary.LittleEndian.PutUint32(m, 3)
	if _, err := a.Write(m); err == nil || len(got) != 0 {
		t.Fatalf("Write = %v, delivered %d", err, len(got))
	}
}

// TestAnswersStopFailsWrite: once delivering fails (the device stopped),
// the server's write fails too, so it stops answering.
func TestAnswersStopFailsWrite(t *testing.T) {
	a := &answers{deliver: func([]byte, uint16, bool) error { return errStopped }}
	if _, err := a.Write(message(tRead+1, 1, nil)); !errors.Is(err, errStopped) {
		t.Fatalf("Write = %v", err)
	}
}
