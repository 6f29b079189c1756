package machine

import (
	"fmt"
	"io"
	"log"
	"os"
	"testing"
)

// TestNICStateNames: a NIC's section in a state file is named by its
// position, not by its tap, so that a restore given another tap
// (RestoreSpec) finds the saved NIC's state.
func TestNICStateNames(t *testing.T) {
	for _, tap := range []string{fmt.Sprintf("gkmst%d", os.Getpid()%100000), fmt.Sprintf("gkmsu%d", os.Getpid()%100000)} {
		m := &Machine{log: log.New(io.Discard, "", 0)}
		r, err := Spec{Kernel: "x", NICs: []NIC{{Mode: NICModeUser}, {Mode: NICModeTap, TapIf: tap}}}.resolve()
		if err != nil {
			t.Fatal(err)
		}
		specs, err := m.openNICs(r)
		if err != nil {
			m.closeBackends()
			t.Skipf("no tap: %v", err)
		}
		for i, s := range specs {
			if want := fmt.Sprintf("virtio-net%d", i); s.StateName != want {
				t.Errorf("NIC %d (%s): state name %q, want %q", i, s.Name, s.StateName, want)
			}
		}
		if err := m.closeBackends(); err != nil {
			t.Error(err)
		}
	}
}
