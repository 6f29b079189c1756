package results

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParser feeds any bytes, cut into any writes, to a parser: nothing
// panics, the document does not depend on the cuts, and every writer's
// output is valid (JSON that unmarshals, XML that decodes, TAP whose every
// line is a TAP line) and bounded by the input's size.
func FuzzParser(f *testing.F) {
	logs, _ := filepath.Glob("testdata/*.log")
	for _, l := range logs {
		data, err := os.ReadFile(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint64(len(data)))
	}
	for _, s := range []string{
		"", "\n", "\r\n\r", "KTAP version 1\n1..2\n    KTAP version 1\n    1..1\nok 1 x\n",
		"TAP version 14\n1..1\nnot ok 1 - \xff # SKIP \x00\n",
		"WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\nCall trace:\n f+0x1/0x2\nKernel panic - not syncing: \x1b]]>",
		"<4>[    1.0][  T1] BUG: KASAN: use-after-free in f+0x1/0x2\n==========================\n",
	} {
		f.Add([]byte(s), uint64(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole := fuzzDoc(t, data, [][]byte{data})
		rng := rand.New(rand.NewSource(int64(seed)))
		var chunks [][]byte
		for rest := data; len(rest) > 0; {
			n := 1 + rng.Intn(64)
			if n > len(rest) {
				n = len(rest)
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		cut := fuzzDoc(t, data, chunks)

		js := render(t, whole, JSON)
		if !bytes.Equal(js, render(t, cut, JSON)) {
			t.Fatal("the document depends on how the input was cut into writes")
		}
		var back Document
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("JSON does not unmarshal: %v", err)
		}
		// What the input says, escaped and repeated (a line can be a
		// test's output, a report's and the console tail's), plus what
		// the parser makes up: missing tests, at most fuzzTests.
		bound := 32*len(data) + fuzzTests*400 + 64<<10
		if len(js) > bound {
			t.Fatalf("JSON is %d bytes for %d of input", len(js), len(data))
		}

		x := render(t, whole, JUnit)
		dec := xml.NewDecoder(bytes.NewReader(x))
		for {
			if _, err := dec.Token(); err != nil {
				if err != io.EOF {
					t.Fatalf("XML does not decode: %v\n%s", err, x)
				}
				break
			}
		}
		if len(x) > bound {
			t.Fatalf("XML is %d bytes for %d of input", len(x), len(data))
		}

		tap := render(t, whole, TAP)
		if !utf8.Valid(tap) || len(tap) > bound {
			t.Fatalf("TAP is not UTF-8, or %d bytes", len(tap))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(tap), "\n"), "\n") {
			if k := classify(line); k.kind == ktapOther {
				t.Fatalf("TAP line %q is no TAP", line)
			}
			for _, r := range line {
				if r < 0x20 && r != '\t' {
					t.Fatalf("TAP line %q has control character %U", line, r)
				}
			}
		}
	})
}

// fuzzTests is the fuzzed parser's test limit: small, so the bound on
// the output says something.
const fuzzTests = 100

func fuzzDoc(t *testing.T, data []byte, chunks [][]byte) *Document {
	p := NewParser(Options{Clock: fakeClock(), Limits: Limits{Tests: fuzzTests}})
	for _, c := range chunks {
		if n, err := p.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	d := p.Finish()
	d.SetOutcome(OutcomeTimeout)
	d.AddHang(0, string(data[:min(len(data), 16)]), []string{string(data[:min(len(data), 8)])})
	return d
}
