package machine

import (
	"io"
	"log"
	"strings"
	"testing"
)

// TestDeviceStatsShares: --stats has a line per 9p share, named by its
// tag, with its reads and writes (the e2e warm sandbox test reads the
// root share's).
func TestDeviceStatsShares(t *testing.T) {
	m := &Machine{log: log.New(io.Discard, "", 0)}
	r, err := Spec{Kernel: "x", Shares: []Share{{Dir: t.TempDir(), Tag: "work"}, {Dir: t.TempDir(), Tag: "src", ReadOnly: true}}}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.openShares(r); err != nil {
		t.Fatal(err)
	}
	defer m.closeBackends()
	want := "9p work: 0 reads, 0 bytes read, 0 writes, 0 bytes written\n9p src: 0 reads, 0 bytes read, 0 writes, 0 bytes written"
	if got := strings.Join(m.DeviceStats(), "\n"); got != want {
		t.Errorf("DeviceStats:\n%s\nwant:\n%s", got, want)
	}
}
