package machine

import (
	"errors"
	"strings"
	"testing"

	"github.com/gokvm/gokvm/vmm"
)

// TestPCISpec: --virtio-transport pci resolves to virtio-pci devices on a
// host bridge; a pci machine refuses a snapshot at once, saying why.
func TestPCISpec(t *testing.T) {
	r, err := Spec{Kernel: "Image", Transport: TransportPCI, IRQChip: "gicv3-its"}.resolve()
	if err != nil || !r.pci {
		t.Fatalf("resolved %+v, %v", r, err)
	}
	if s := r.virtioSpec("virtio-blk0", nil); s.Area != vmm.AreaPCI {
		t.Errorf("a virtio device of a pci machine is placed in %v", s.Area)
	}
	if r, _ := (Spec{Kernel: "Image"}).resolve(); r.pci || r.virtioSpec("x", nil).Area != vmm.AreaVirtio {
		t.Errorf("the default transport is not virtio-mmio")
	}
	m := &Machine{spec: Spec{Transport: TransportPCI}}
	err = m.Snapshot(nil, nil, "", false)
	if !errors.Is(err, vmm.ErrNotSaveable) || !strings.Contains(err.Error(), "--virtio-transport mmio") {
		t.Errorf("snapshot of a pci machine: %v", err)
	}
}
