package control

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		line    string
		op, err string
	}{
		{`{"version":1,"op":"pause"}`, "pause", ""},
		{`{"version":1,"op":"sysrq","key":"h"}`, "sysrq", ""},
		{` {"op":"info","version":1} `, "info", ""},
		{``, "", "malformed"},
		{`{`, "", "malformed"},
		{`not json`, "", "malformed"},
		{`[1,2]`, "", "malformed"},
		{`{"version":1,"op":"pause"}{"version":1,"op":"resume"}`, "", "data after"},
		{`{"version":1,"op":"pause","extra":1}`, "", "unknown field"},
		{`{"op":"pause"}`, "", "version 0"},
		{`{"version":2,"op":"pause"}`, "", "version 2"},
		{`{"version":1}`, "", "no op"},
		{`{"version":1,"op":"reboot"}`, "", "unknown op"},
		{`{"version":1,"op":"` + strings.Repeat("x", 1000) + `"}`, "", "unknown op"},
		{`{"version":1,"op":"sysrq"}`, "", "sysrq key"},
		{`{"version":1,"op":"sysrq","key":"hh"}`, "", "sysrq key"},
		{`{"version":1,"op":"sysrq","key":" "}`, "", "sysrq key"},
		{`{"version":1,"op":"sysrq","key":"\u00e9"}`, "", "sysrq key"},
		{`{"version":1,"op":"pause","key":"h"}`, "", "takes no key"},
		{`{"version":"1","op":"pause"}`, "", "malformed"},
		{`{"version":1,"op":"snapshot","ram_file":"vm.ram"}`, "snapshot", ""},
		{`{"version":1,"op":"snapshot","stop":true,"ram_file":"vm.ram"}`, "snapshot", ""},
		{`{"version":1,"op":"snapshot"}`, "", "RAM file's name"},
		{`{"version":1,"op":"snapshot","ram_file":"../vm.ram"}`, "", "without '/'"},
		{`{"version":1,"op":"snapshot","ram_file":".."}`, "", "not a file name"},
		{`{"version":1,"op":"snapshot","ram_file":"a\u0000b"}`, "", "NUL"},
		{`{"version":1,"op":"snapshot","ram_file":"` + strings.Repeat("r", 256) + `"}`, "", "longer than"},
		{`{"version":1,"op":"snapshot","ram_file":"x","key":"h"}`, "", "takes no key"},
		{`{"version":1,"op":"snapshot","ram_file":"x","stop":1}`, "", "malformed"},
		{`{"version":1,"op":"pause","stop":true}`, "", "takes no stop"},
		{`{"version":1,"op":"info","ram_file":"x"}`, "", "takes no stop or ram_file"},
	} {
		r, err := DecodeRequest([]byte(tc.line))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case tc.err == "" && r.Op != tc.op:
			t.Errorf("%q: op %q, want %q", tc.line, r.Op, tc.op)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want one saying %q", tc.line, err, tc.err)
		}
	}
}

func TestResponseIsOneLineOfJSON(t *testing.T) {
	st := 6
	line := encodeLine(Response{Version: Version, OK: true, Status: &st, Outcome: "stopped", Dump: "a\nb\n"})
	if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("%q is not one line", line)
	}
	r, err := DecodeResponse(line)
	if err != nil || *r.Status != 6 || r.Dump != "a\nb\n" {
		t.Errorf("round trip: %+v %v", r, err)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil || m["version"] != float64(1) || m["ok"] != true {
		t.Errorf("wire form %s", line)
	}
	if _, err := DecodeResponse([]byte(`{"version":9,"ok":true}`)); err == nil {
		t.Error("an answer of another version was taken")
	}
}

func TestCheckName(t *testing.T) {
	for _, good := range []string{"a", "vm-1", "Build_42.x", strings.Repeat("n", MaxNameLen)} {
		if err := CheckName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", "-x", ".hidden", "a/b", "..", "a b", "a\x00", "é", strings.Repeat("n", MaxNameLen+1)} {
		if err := CheckName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if n := NewName(); CheckName(n) != nil || n == NewName() {
		t.Errorf("NewName %q: invalid or not new", n)
	}
}

func TestStateDirectory(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/7")
	if d, _ := Dir(); d != "/run/user/7/gokvm" {
		t.Errorf("with XDG_RUNTIME_DIR: %s", d)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := Dir(); d != "/home/u/.gokvm" {
		t.Errorf("without XDG_RUNTIME_DIR: %s", d)
	}
	t.Setenv("XDG_RUNTIME_DIR", "/"+strings.Repeat("d", 90))
	if _, err := SocketPath(strings.Repeat("n", MaxNameLen)); err == nil {
		t.Error("a socket path longer than sun_path was accepted")
	}
}
