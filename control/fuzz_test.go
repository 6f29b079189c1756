package control

import (
	"bytes"
	"testing"
)

// FuzzRequest feeds any line to the decoder and, when it decodes, to the
// server's handler over a VM: the answer is always one line of version-1
// JSON, an error answer says why, and nothing panics. A snapshot decodes
// only with a RAM file name beside the state file.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		`{"version":1,"op":"info"}`, `{"version":1,"op":"pause"}`, `{"version":1,"op":"resume"}`,
		`{"version":1,"op":"dump"}`, `{"version":1,"op":"sysrq","key":"h"}`, `{"version":1,"op":"console"}`,
		`{"version":1,"op":"wait"}`, `{"version":1,"op":"stop"}`, `{"version":2}`, `{"op":1}`, `[]`, `"x"`, "\xff",
		`{"version":1,"op":"sysrq","key":"\u0000"}`, `{"version":1e400,"op":"pause"}`,
		`{"version":1,"op":"snapshot","ram_file":"vm.ram"}`, `{"version":1,"op":"snapshot","stop":true,"ram_file":"a/b"}`,
		`{"version":1,"op":"info","stop":true}`,
	} {
		f.Add([]byte(seed))
	}
	s := &Server{info: Info{Name: "fuzz"}, done: make(chan struct{})}
	s.SetVM(&testVM{})
	f.Fuzz(func(t *testing.T, line []byte) {
		var resp Response
		req, err := DecodeRequest(line)
		switch {
		case err != nil:
			resp = errorResponse(err)
		case req.Op == OpWait || req.Op == OpStop || req.Op == OpConsole || req.Op == OpSnapshot:
			// These take the connection; the decoder's answer is all.
			if req.Op == OpSnapshot && CheckRAMFileName(req.RAMFile) != nil {
				t.Fatalf("snapshot with RAM file %q decoded", req.RAMFile)
			}
			return
		default:
			resp = s.Handle(req)
		}
		out := encodeLine(resp)
		if bytes.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("answer %q is not one line", out)
		}
		back, err := DecodeResponse(out)
		if err != nil {
			t.Fatalf("answer %q does not decode: %v", out, err)
		}
		if !back.OK && back.Error == "" {
			t.Fatalf("error answer %q says nothing", out)
		}
		if len(out) > 64<<10 {
			t.Fatalf("a %d-byte request got a %d-byte answer", len(line), len(out))
		}
	})
}
