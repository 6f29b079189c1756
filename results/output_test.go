package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSourceKeepsLinesApart: two streams written at once, each cut
// mid-line, give the document of their lines one after the other.
func TestSourceKeepsLinesApart(t *testing.T) {
	kernel := "[    1.000000] Run /init as init process\n[    2.000000] ------------[ cut here ]------------\n" +
		"[    2.000100] WARNING: CPU: 0 PID: 1 at drivers/misc/x.c:10 foo_bar+0x10/0x20\n[    2.000200] ---[ end trace 0000000000000000 ]---\n"
	tap := "TAP version 13\n1..2\nok 1 first\nnot ok 2 second # exit=1\n"
	p := NewParser(Options{Clock: fakeClock()})
	src := p.Source()
	k, c := []byte(kernel), []byte(tap)
	for len(k) > 0 || len(c) > 0 {
		n := min(3, len(k))
		p.Write(k[:n])
		k = k[n:]
		n = min(2, len(c))
		src.Write(c[:n])
		c = c[n:]
	}
	src.Write([]byte("# a last line without its newline"))
	d := p.Finish()
	if len(d.Tests) != 2 || d.Tests[0].Status != StatusPass || d.Tests[1].Status != StatusFail {
		t.Errorf("tests %+v", d.Tests)
	}
	if len(d.Signatures) != 1 || d.Signatures[0].Signature != "WARNING in foo_bar" || d.BootS == nil {
		t.Errorf("signatures %+v, boot %v", d.Signatures, d.BootS)
	}
	if last := d.ConsoleTail[len(d.ConsoleTail)-1]; last != "# a last line without its newline" {
		t.Errorf("the console's last line %q", last)
	}
	for _, l := range d.ConsoleTail {
		if strings.Contains(l, "[") && strings.Contains(l, "ok ") {
			t.Errorf("a mixed line: %q", l)
		}
	}
	if !d.Failed() || d.Passed() || d.Panicked() {
		t.Errorf("failed %v, passed %v, panicked %v", d.Failed(), d.Passed(), d.Panicked())
	}
}

// TestOutput: the file is created before and written after, whole, as
// readable as WriteFile's; the temporary file never stays.
func TestOutput(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "out.junit")
	f, err := FormatFor(path, "")
	if err != nil || f != JUnit {
		t.Fatalf("FormatFor(.junit) = %q, %v", f, err)
	}
	o, err := CreateOutput(path, f)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".out.junit.") {
		t.Errorf("before the run: %v", entries)
	}
	d := &Document{Name: "x", Outcome: OutcomeError}
	d.SetError("no\nKVM:  here")
	if err := o.Commit(d); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(d); err == nil {
		t.Errorf("a second Commit succeeded")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("%v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "error: no KVM: here") {
		t.Errorf("the error is not in the JUnit file:\n%s", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("after: %v", entries)
	}
	// JSON has it as a field.
	var js strings.Builder
	if err := d.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Document
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil || back.Error != "no KVM: here" {
		t.Errorf("JSON error field %q, %v", back.Error, err)
	}

	// Aborted, or failing to rename: no file at all.
	o, err = CreateOutput(filepath.Join(dir, "b.json"), JSON)
	if err != nil {
		t.Fatal(err)
	}
	o.Abort()
	os.Mkdir(filepath.Join(dir, "c.json"), 0o755)
	os.WriteFile(filepath.Join(dir, "c.json", "x"), nil, 0o644)
	o, err = CreateOutput(filepath.Join(dir, "c.json"), JSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(d); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.json")) {
		t.Errorf("renaming over a directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
	if _, err := CreateOutput(filepath.Join(dir, "d.json"), "yaml"); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Errorf("format yaml: %v", err)
	}
}

// TestPanicked: a panic alone, or one that made a report fatal.
func TestPanicked(t *testing.T) {
	for name, want := range map[string]bool{"panic-sysrq": true, "kunit-panic": true, "warning": false, "kunit": false, "hungtask": false} {
		p := NewParser(Options{Clock: fakeClock()})
		p.Write(readLog(t, name))
		if got := p.Finish().Panicked(); got != want {
			t.Errorf("%s: Panicked %v, want %v", name, got, want)
		}
	}
}
