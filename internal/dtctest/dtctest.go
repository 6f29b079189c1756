// Package dtctest decodes device tree blobs with dtc and compares them
// with golden files, for the architecture packages' tests.
package dtctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Decode turns a blob into device tree source with dtc, so goldens can be
// read and their diffs reviewed.
func Decode(t testing.TB, blob []byte) string {
	t.Helper()
	if _, err := exec.LookPath("dtc"); err != nil {
		t.Fatalf("dtc is needed to decode device trees (apt-get install device-tree-compiler, or make deps)")
	}
	f := filepath.Join(t.TempDir(), "x.dtb")
	if err := os.WriteFile(f, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dtc", "-q", "-I", "dtb", "-O", "dts", f).CombinedOutput()
	if err != nil {
		t.Fatalf("dtc could not decode the blob: %v\n%s", err, out)
	}
	return string(out)
}

// Golden compares decoded source with testdata/NAME.dts, first rewriting
// the file when update is set.
func Golden(t testing.TB, name, got string, update bool) {
	t.Helper()
	golden := filepath.Join("testdata", name+".dts")
	if update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("device tree differs from %s:\n--- got\n%s", golden, got)
	}
}
