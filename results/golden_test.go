package results

import (
	"bytes"
	"flag"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden .json, .xml and .tap files in testdata")

// fakeClock starts at a fixed time and moves 10 ms a reading, so
// durations in the goldens are the same on every machine.
func fakeClock() func() time.Time {
	t := time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(10 * time.Millisecond)
		return t
	}
}

type golden struct {
	name    string
	outcome string
	status  int // the sandbox command's; -1 for none
	hang    bool
	sigs    []string // the signatures, in order
}

// goldens are the console logs in testdata, what the VM's end was, and
// the signatures each must give.
var goldens = []golden{
	{"kunit", OutcomePoweroff, -1, false, nil},
	{"kselftest", OutcomePoweroff, 1, false, nil},
	{"oops-arm64", OutcomePoweroff, -1, false, []string{"BUG: unable to handle kernel NULL pointer dereference in nullderef_write"}},
	{"warning", OutcomePoweroff, 0, false, []string{"WARNING in gokvm_test_warn"}},
	{"warning-rebuilt", OutcomePoweroff, 0, false, []string{"WARNING in gokvm_test_warn"}},
	{"panic-sysrq", OutcomePanic, -1, false, []string{"kernel panic: sysrq triggered crash"}},
	{"kasan", OutcomePoweroff, -1, false, []string{"KASAN: use-after-free Read in gokvm_uaf_read"}},
	{"rcu-stall", OutcomeTimeout, -1, true, []string{"INFO: rcu detected stall in gokvm_stall_write"}},
	{"softlockup", OutcomeTimeout, -1, false, []string{"BUG: soft lockup in gokvm_stall_write"}},
	{"hungtask", OutcomeTimeout, -1, true, []string{"INFO: task hung in gokvm_hang_work"}},
	{"kunit-panic", OutcomePanic, -1, false, []string{"BUG: unable to handle kernel NULL pointer dereference in gokvm_crash_deref"}},
	{"odd", OutcomeStopped, -1, false, []string{"WARNING in gokvm_fs_check"}},
}

// parseLog runs a console log through a parser in the given chunks and
// completes the document as the CLI would.
func parseLog(t testing.TB, g golden, data []byte, chunks func([]byte) [][]byte) *Document {
	t.Helper()
	p := NewParser(Options{Name: g.name, Clock: fakeClock()})
	for _, c := range chunks(data) {
		if n, err := p.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(c))
		}
	}
	d := p.Finish()
	d.SetOutcome(g.outcome)
	if g.status >= 0 {
		d.SetCommandStatus(g.status)
	}
	if g.hang {
		d.AddHang(0, "ffff800008a1b2c4 gokvm_spin+0x10/0x20 [gokvm_test]", []string{"gokvm_stall_write+0x58/0x90 [gokvm_test]", "proc_reg_write+0xac/0x100"})
		d.AddHang(1, "ffff80000801c0e8 cpu_do_idle+0x8/0xc", nil)
	}
	return d
}

func whole(b []byte) [][]byte { return [][]byte{b} }

func readLog(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func render(t testing.TB, d *Document, f Format) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := d.Write(&b, f); err != nil {
		t.Fatalf("writing %s: %v", f, err)
	}
	return b.Bytes()
}

var exts = map[Format]string{JSON: ".json", JUnit: ".xml", TAP: ".tap"}

// TestGolden parses every console log in testdata and compares the three
// writers' output with the golden files (go test -update rewrites them).
func TestGolden(t *testing.T) {
	logs, _ := filepath.Glob("testdata/*.log")
	if len(logs) != len(goldens) {
		t.Errorf("testdata has %d logs, the table %d: every log needs its entry", len(logs), len(goldens))
	}
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			d := parseLog(t, g, readLog(t, g.name), whole)
			var sigs []string
			for _, s := range d.Signatures {
				sigs = append(sigs, s.Signature)
			}
			if strings.Join(sigs, "\n") != strings.Join(g.sigs, "\n") {
				t.Errorf("signatures:\n%q\nwant\n%q", sigs, g.sigs)
			}
			for f, ext := range exts {
				got := render(t, d, f)
				path := filepath.Join("testdata", g.name+ext)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from its golden file (go test -update rewrites it):\n%s", path, firstDiff(got, want))
				}
			}
		})
	}
}

// firstDiff shows where two outputs part.
func firstDiff(got, want []byte) string {
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "line " + itoa(i+1) + ":\n got: " + g + "\nwant: " + w
		}
	}
	return "(same lines)"
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestChunking: the document does not depend on how the console's bytes
// were cut into writes, down to one byte a write.
func TestChunking(t *testing.T) {
	for _, g := range goldens {
		data := readLog(t, g.name)
		want := render(t, parseLog(t, g, data, whole), JSON)
		bytewise := func(b []byte) [][]byte {
			var out [][]byte
			for i := range b {
				out = append(out, b[i:i+1])
			}
			return out
		}
		rng := rand.New(rand.NewSource(int64(len(data))))
		random := func(b []byte) [][]byte {
			var out [][]byte
			for len(b) > 0 {
				n := 1 + rng.Intn(200)
				if n > len(b) {
					n = len(b)
				}
				out = append(out, b[:n])
				b = b[n:]
			}
			return out
		}
		for name, chunks := range map[string]func([]byte) [][]byte{"bytewise": bytewise, "random": random} {
			if got := render(t, parseLog(t, g, data, chunks), JSON); !bytes.Equal(got, want) {
				t.Errorf("%s %s: differs from one write:\n%s", g.name, name, firstDiff(got, want))
			}
		}
	}
}
